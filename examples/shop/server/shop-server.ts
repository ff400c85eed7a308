// The shop's one Node.js process: the storefront (Vite's dev server in development, the built
// files otherwise), its checkout endpoint, and one Driftless server client for the process.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, normalize, sep } from "node:path";
import { createServerClient, type ServerClient, type ServerDrop } from "@driftless/sdk/server";
import { CheckoutError, placeOrder, readCheckout } from "./checkout.js";

export interface ShopOptions {
  /** The Driftless ingest endpoint, for the page and for the server client alike. */
  endpoint: string;
  /** The page's source key (a key with the shop's origins); none for a keyless endpoint. */
  browserKey?: string;
  /** The server client's source key (a key without origins); none for a keyless endpoint. */
  serverKey?: string;
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Serve src/ through Vite (rebuilt on change) instead of the built dist/. */
  dev?: boolean;
  /** gzip request bodies; the local stack's `cargo lambda watch` cannot carry them (docs/clients.md). */
  gzip?: boolean;
  onDrop?: (drop: ServerDrop) => void;
}

export interface Shop {
  url: string;
  driftless: ServerClient;
  /** Stop taking requests, deliver the events still queued, then close. */
  close(): Promise<void>;
}

/** The folder with index.html: this file runs from server/ (tests) or build/server/server/ (compiled). */
function shopRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "index.html"))) return dir;
    if (dirname(dir) == dir) throw new Error(`no index.html above ${import.meta.dirname}`);
  }
}

const ROOT = shopRoot();
const DIST = join(ROOT, "dist");
const MAX_BODY_BYTES = 64 * 1024;
const TYPES: Record<string, string> = { ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".ico": "image/x-icon", ".map": "application/json" };

const attribute = (value: string) => value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
/** The page learns its endpoint and key at run time, so one build serves every environment. */
const withEndpoint = (html: string, endpoint: string, key = "") =>
  html.replace("%DRIFTLESS_ENDPOINT%", attribute(endpoint)).replace("%DRIFTLESS_KEY%", attribute(key));

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new CheckoutError(`the body must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new CheckoutError("the body must be JSON");
  }
}

export async function startShop(options: ShopOptions): Promise<Shop> {
  const driftless = createServerClient(options.endpoint, {
    gzip: options.gzip ?? true,
    ...(options.serverKey ? { key: options.serverKey } : {}),
    ...(options.onDrop ? { onDrop: options.onDrop } : {}),
  });
  // Vite only in development: the built shop does not need it installed.
  const vite = options.dev ? await (await import("vite")).createServer({ root: ROOT, server: { middlewareMode: true }, appType: "custom" }) : undefined;

  async function page(url: string, res: ServerResponse): Promise<void> {
    const html = vite ? await vite.transformIndexHtml(url, await readFile(join(ROOT, "index.html"), "utf8")) : await readFile(join(DIST, "index.html"), "utf8");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(withEndpoint(html, options.endpoint, options.browserKey));
  }

  async function asset(path: string, res: ServerResponse): Promise<boolean> {
    const file = normalize(join(DIST, path));
    if (!file.startsWith(DIST + sep)) return false;
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "public, max-age=31536000, immutable" }).end(body);
      return true;
    } catch {
      return false;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://shop.local");
    if (url.pathname == "/api/checkout") {
      if (req.method != "POST") return json(res, 405, { error: { message: "POST an order here" } });
      try {
        const order = readCheckout(await readJson(req));
        const locale = req.headers["accept-language"]?.split(",")[0]?.trim().slice(0, 64);
        return json(res, 201, placeOrder(order, driftless, { url: req.headers.referer, ...(locale ? { locale } : {}) }));
      } catch (error) {
        if (error instanceof CheckoutError) return json(res, 400, { error: { message: error.message } });
        throw error;
      }
    }
    if (req.method != "GET" && req.method != "HEAD") return json(res, 405, { error: { message: "the shop's pages are read with GET" } });
    // Client-side routes (no file extension) get the page; the rest are files. Vite's own modules
    // (/@vite/client, /@fs/…) have no extension either: only a navigation, which asks for HTML,
    // gets the page from the dev server.
    if (!extname(url.pathname) && (!vite || req.headers.accept?.includes("text/html"))) return page(url.pathname, res);
    if (vite) return void vite.middlewares(req, res, () => res.writeHead(404).end());
    if (!(await asset(url.pathname, res))) res.writeHead(404, { "content-type": "text/plain" }).end("not found");
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error("shop: request failed:", error);
      if (!res.headersSent) json(res, 500, { error: { message: "the shop failed; see its log" } });
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host ?? "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    driftless,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        // After the last request: every order tracked is delivered before the process goes.
        await driftless.shutdown({ timeoutMs: 10_000 });
        await vite?.close();
      })()),
  };
}
