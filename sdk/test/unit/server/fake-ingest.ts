// An ingest endpoint as a `fetch` double for the server client's unit tests: it records every
// request (gunzipping bodies) and answers from a script, so fake timers can drive retries,
// backoff and timeouts without a socket.
import { gunzipSync } from "node:zlib";
import { vi } from "vitest";
import { createServerClient, type ServerClient, type ServerClientOptions, type ServerDrop, type ServerEvent } from "../../../src/server/index.js";

export const ENDPOINT = "https://ingest.test/v1/batch";

export interface SeenRequest {
  headers: Record<string, string>;
  /** The JSON body, gunzipped when it was sent gzipped. */
  text: string;
  /** Bytes on the wire. */
  wireBytes: number;
  sent_at: string;
  events: ServerEvent[];
  /** Date.now() when the request was made. */
  at: number;
}

/**
 * - an HTTP answer (`rejected` in a 200 body is read by the client)
 * - "network-error": fetch rejects, as undici does for a refused connection
 * - "hang": no answer until the client aborts the request
 */
export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | "network-error" | "hang";

export class FakeIngest {
  requests: SeenRequest[] = [];
  /** Answers for the next requests, in order; after them every request is accepted. */
  script: (Answer | ((r: SeenRequest) => Answer))[] = [];
  drops: ServerDrop[] = [];

  readonly fetch = (async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (String(url) != ENDPOINT) throw new Error(`request to unexpected URL ${String(url)}`);
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const raw = init?.body as Buffer | string;
    const text = headers["content-encoding"] == "gzip" ? gunzipSync(raw as Buffer).toString("utf8") : String(raw);
    const batch = JSON.parse(text) as { sent_at: string; events: ServerEvent[] };
    const seen: SeenRequest = { headers, text, wireBytes: Buffer.byteLength(raw), sent_at: batch.sent_at, events: batch.events, at: Date.now() };
    this.requests.push(seen);
    const next = this.script.shift();
    const answer = typeof next == "function" ? next(seen) : (next ?? { status: 200, body: { accepted: batch.events.length, rejected: [] } });
    if (answer == "network-error") throw new TypeError("fetch failed");
    if (answer == "hang") {
      return new Promise<Response>((_, reject) => {
        const signal = init?.signal;
        signal?.addEventListener("abort", () => reject(new DOMException("This operation was aborted", "AbortError")));
      });
    }
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), { status: answer.status, headers: answer.headers });
  }) as typeof fetch;

  /**
   * A client sending here. Bodies are plain JSON unless a test asks for gzip: gzip runs on libuv's
   * thread pool, which a test driving fake timers cannot wait for step by step.
   */
  client(options: ServerClientOptions = {}): ServerClient {
    return createServerClient(ENDPOINT, { fetch: this.fetch, gzip: false, onDrop: (d) => this.drops.push(d), ...options });
  }

  /** Every event received, in arrival order. */
  get received(): ServerEvent[] {
    return this.requests.flatMap((r) => r.events);
  }
}

/** Let promise chains, gzip (on libuv's thread pool) and zero-delay work run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Advance the fake clock until `promise` settles (timers fire at their exact times), at most ten minutes. */
export async function until<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  void promise.finally(() => (done = true));
  for (let t = 0; !done && t < 600_000; t += 100) {
    await vi.advanceTimersByTimeAsync(100);
    await settle();
  }
  return promise;
}

export const who = { anonymous_id: "anon-1" };
export const page = (n: number) => ({ path: `/p/${n}` });
