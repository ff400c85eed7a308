// The server client in Node.js without any browser global, against a real HTTP server on
// loopback: gzip on the wire, Retry-After headers, a connection that is refused, a slow server.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ServerDrop } from "../../../src/server/index.js";
import { BROWSER_GLOBALS, removeBrowserGlobals, trapBrowserGlobals } from "../browser-globals.js";

interface Received {
  headers: IncomingMessage["headers"];
  events: { event_id: string; seq: number }[];
}

type Reply = (res: import("node:http").ServerResponse) => void;

/** An ingest stand-in: answers from `replies` in order, then 200 with every event accepted. */
async function startIngest(replies: Reply[] = []): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const text = req.headers["content-encoding"] == "gzip" ? gunzipSync(raw).toString() : raw.toString();
      const batch = JSON.parse(text) as { events: Received["events"] };
      received.push({ headers: req.headers, events: batch.events });
      const reply = replies.shift();
      if (reply) return reply(res);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ accepted: batch.events.length, rejected: [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/batch`, received, server };
}

let servers: Server[] = [];
afterEach(async () => {
  removeBrowserGlobals();
  vi.resetModules();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

describe("server client in Node.js", () => {
  it("imports and delivers with no browser global, touching none", async () => {
    // Plain Node.js 20 has none of them.
    expect(BROWSER_GLOBALS.filter((name) => name in globalThis)).toEqual([]);
    const touched = trapBrowserGlobals();
    vi.resetModules();
    const { createServerClient } = await import("../../../src/server/index.js");
    const ingest = await startIngest();
    servers.push(ingest.server);
    const client = createServerClient(ingest.url);
    client.track("page_viewed", { path: "/" }, { anonymous_id: "a-1" });
    await client.shutdown();
    expect(ingest.received.flatMap((r) => r.events)).toHaveLength(1);
    expect(touched).toEqual([]);
  });

  it("sends gzip bodies that a real server inflates", async () => {
    const { createServerClient } = await import("../../../src/server/index.js");
    const ingest = await startIngest();
    servers.push(ingest.server);
    const client = createServerClient(ingest.url);
    for (let i = 0; i < 120; i++) client.track("page_viewed", { path: `/p/${i}` }, { anonymous_id: "a-1" });
    await client.shutdown();
    expect(ingest.received.map((r) => r.headers["content-encoding"])).toEqual(["gzip", "gzip"]);
    expect(ingest.received.map((r) => r.events.length)).toEqual([100, 20]);
    expect(ingest.received[0]!.headers["content-type"]).toBe("application/json");
  });

  it("follows a real Retry-After header, then delivers the same events", async () => {
    const { createServerClient } = await import("../../../src/server/index.js");
    const ingest = await startIngest([(res) => res.writeHead(503, { "retry-after": "0", "content-type": "application/json" }).end('{"error":{}}')]);
    servers.push(ingest.server);
    const drops: ServerDrop[] = [];
    const client = createServerClient(ingest.url, { onDrop: (d) => drops.push(d) });
    client.track("page_viewed", { path: "/" }, { anonymous_id: "a-1" });
    await client.shutdown();
    expect(ingest.received.map((r) => r.events[0]!.event_id)).toEqual([ingest.received[0]!.events[0]!.event_id, ingest.received[0]!.events[0]!.event_id]);
    expect(drops).toEqual([]);
  });

  it("retries a refused connection and reports status 0 when it gives up", async () => {
    const { createServerClient } = await import("../../../src/server/index.js");
    const closed = await startIngest();
    await new Promise((r) => closed.server.close(r));
    const drops: ServerDrop[] = [];
    const client = createServerClient(closed.url, { maxAttempts: 3, retryBaseDelay: 1, onDrop: (d) => drops.push(d) });
    client.track("page_viewed", { path: "/" }, { anonymous_id: "a-1" });
    await client.shutdown();
    expect(drops.map((d) => [d.reason, d.status, d.count])).toEqual([["retries_exhausted", 0, 1]]);
  });

  it("aborts a request to a server that does not answer within timeout, and sends it again", async () => {
    const { createServerClient } = await import("../../../src/server/index.js");
    let stalled = 0;
    const ingest = await startIngest([() => void stalled++]);
    servers.push(ingest.server);
    const client = createServerClient(ingest.url, { timeout: 200, retryBaseDelay: 1 });
    client.track("page_viewed", { path: "/" }, { anonymous_id: "a-1" });
    await client.shutdown();
    ingest.server.closeAllConnections();
    expect(stalled).toBe(1);
    expect(ingest.received).toHaveLength(2);
    expect(ingest.received[1]!.events[0]!.event_id).toBe(ingest.received[0]!.events[0]!.event_id);
  });
});
