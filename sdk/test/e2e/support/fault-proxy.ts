// tests/support/fault_proxy.py in front of the ingest endpoint, driven over HTTP: it rejects or
// loses the answers of the next requests when a fault is armed.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ENDPOINT, PYTHON, ROOT } from "./env.js";

export type Fault =
  | { mode: "reject"; count: number; status?: number; retry_after?: string }
  | { mode: "lose_response"; count: number; status?: number; retry_after?: string }
  | { mode: "hang"; count: number; seconds: number }
  | { mode: "off" };

export interface ProxyStats {
  requests: number;
  forwarded: number;
  faulted: number;
  /** Each request's body as received, base64. */
  bodies: string[];
}

export interface FaultProxy {
  /** The ingest endpoint's URL through the proxy. */
  endpoint: string;
  arm(fault: Fault): Promise<void>;
  stats(): Promise<ProxyStats>;
  /** The event ids of every batch the proxy received, in order (gzip bodies inflated). */
  sentEventIds(): Promise<string[][]>;
  close(): Promise<void>;
}

export async function startFaultProxy(): Promise<FaultProxy> {
  const upstream = new URL(ENDPOINT);
  const child: ChildProcess = spawn(PYTHON, [join(ROOT, "tests/support/fault_proxy.py"), "--upstream", upstream.origin, "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`fault_proxy.py exited with ${code} before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = /^listening on (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  const base = `http://127.0.0.1:${port}`;
  const stats = async () => (await (await fetch(`${base}/__stats`)).json()) as ProxyStats;
  return {
    endpoint: base + upstream.pathname,
    async arm(fault) {
      const res = await fetch(`${base}/__fault`, { method: "POST", body: JSON.stringify(fault) });
      if (!res.ok) throw new Error(`arming ${JSON.stringify(fault)}: HTTP ${res.status}`);
    },
    stats,
    async sentEventIds() {
      return (await stats()).bodies.map((b) => {
        const raw = Buffer.from(b, "base64");
        const text = raw[0] == 0x1f && raw[1] == 0x8b ? gunzipSync(raw).toString() : raw.toString();
        return (JSON.parse(text) as { events: { event_id: string }[] }).events.map((e) => e.event_id);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill();
      }),
  };
}
