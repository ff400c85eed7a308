// The web site under test: a page that loads the SDK, served from loopback. The same server
// answers as http://127.0.0.1:<port> and http://localhost:<port>, two origins, for tests that
// navigate from one site to another.
import { build } from "esbuild";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { E2E_KEY } from "./env.js";

export interface Site {
  /** http://127.0.0.1:<port> */
  origin: string;
  /** http://localhost:<port>: another origin, same server */
  otherOrigin: string;
  /** URL of the test page, with the SDK created from `options` (the e2e source key unless they name one) against `endpoint`. */
  page(endpoint: string, options?: Record<string, unknown>): string;
  /** The page's HTML and the SDK bundle, to serve from page.route while the browser is offline. */
  files: Record<string, { type: string; body: string }>;
  close(): Promise<void>;
}

const HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Driftless e2e</title></head>
<body>
<script type="module">
  import { createClient } from "/sdk.js";
  // Requests sent while a page unloads escape Playwright's request and console events: the page
  // logs every beacon and fetch to the endpoint, the fetch's answer (status, 0 for a network
  // error; none if the page was gone), and its pagehide, in localStorage ("e2e.sent.*"), where
  // the test reads them afterwards.
  // One key per entry: two tabs appending to one shared array would overwrite each other.
  const tab = Math.random().toString(36).slice(2, 6);
  let n = 0;
  const logSend = (via, body, ok) => {
    const events = body ? JSON.parse(body).events : [];
    const entry = { via, ok, tab, onLine: navigator.onLine, t: Date.now(), vis: document.visibilityState, bytes: body ? new Blob([body]).size : 0, ids: events.map((e) => e.event_id), paths: events.map((e) => e.properties.path) };
    localStorage.setItem("e2e.sent." + tab + "." + String(n++).padStart(4, "0"), JSON.stringify(entry));
  };
  const beacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, body) => {
    const ok = beacon(url, body);
    logSend("beacon", body, ok);
    return ok;
  };
  addEventListener("pagehide", () => logSend("pagehide", null, null));
  const fetch = window.fetch.bind(window);
  window.fetch = (url, init) => {
    if (!String(url).startsWith(new URLSearchParams(location.search).get("endpoint"))) return fetch(url, init);
    logSend("fetch", init.body, null);
    return fetch(url, init).then(
      (res) => (logSend("answer", init.body, res.status), res),
      (error) => {
        logSend("answer", init.body, 0);
        throw error;
      },
    );
  };
  const params = new URLSearchParams(location.search);
  window.drops = [];
  window.dl = createClient(params.get("endpoint"), {
    ...JSON.parse(params.get("options") || "{}"),
    onDrop: (drop) => window.drops.push(drop),
  });
  window.ready = true;
</script>
</body></html>`;

export async function startSite(): Promise<Site> {
  const bundle = await build({
    entryPoints: [join(import.meta.dirname, "../../../src/index.ts")],
    bundle: true,
    format: "esm",
    target: "es2020",
    write: false,
    logLevel: "silent",
  });
  const files: Site["files"] = {
    "/sdk.js": { type: "text/javascript", body: bundle.outputFiles[0]!.text },
    "/page": { type: "text/html", body: HTML },
    "/blank": { type: "text/html", body: "<!doctype html><title>elsewhere</title><p>another site</p>" },
  };
  const server: Server = createServer((req, res) => {
    const file = files[new URL(req.url ?? "/", "http://x").pathname];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-store" }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    otherOrigin: `http://localhost:${port}`,
    page: (endpoint, options = {}) =>
      `${origin}/page?endpoint=${encodeURIComponent(endpoint)}&options=${encodeURIComponent(JSON.stringify({ key: E2E_KEY, ...options }))}`,
    files,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
