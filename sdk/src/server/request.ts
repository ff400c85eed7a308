// One send of one batch: the wire format's body, gzipped, POSTed with a timeout, and what the
// answer means for the batch.
import { promisify } from "node:util";
import { gzip as gzipCallback } from "node:zlib";
import type { RejectedEvent } from "../types.js";

const gzip = promisify(gzipCallback);

/** What became of one send. */
export type Outcome =
  /** `2xx`: every event was stored or rejected; `rejected` lists the rejected ones. */
  | { kind: "stored"; rejected: RejectedEvent[] }
  /** 429, 5xx, a network error or a timeout (status 0): the same batch may be sent again. */
  | { kind: "retry"; status: number; retryAfter: string | null }
  /** Any other status: the request itself is wrong, and the same bytes would fail again. */
  | { kind: "refused"; status: number };

export interface RequestSettings {
  fetch: typeof fetch;
  endpoint: string;
  gzip: boolean;
  timeout: number;
  userAgent: string;
  /** The source key, sent as `X-Driftless-Key`. */
  key: string | undefined;
  /** Aborts the request (shutdown ran out of time). */
  signal: AbortSignal;
}

/** `{"sent_at", "events"}` around already serialised events; `sent_at` is set anew for every send. */
export const batchBody = (raws: readonly string[], now = Date.now()): string =>
  '{"sent_at":"' + new Date(now).toISOString() + '","events":[' + raws.join(",") + "]}";

export async function send(raws: readonly string[], settings: RequestSettings): Promise<Outcome> {
  const json = batchBody(raws);
  const body = settings.gzip ? await gzip(json) : json;
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": settings.userAgent };
  if (settings.gzip) headers["content-encoding"] = "gzip";
  if (settings.key) headers["x-driftless-key"] = settings.key;
  // One controller for the timeout and the shutdown signal. A timer of our own rather than
  // AbortSignal.timeout, so that the timeout also covers reading the answer and fake timers
  // drive it in tests.
  const abort = new AbortController();
  const onShutdown = () => abort.abort();
  settings.signal.addEventListener("abort", onShutdown);
  const timer = setTimeout(() => abort.abort(), settings.timeout);
  try {
    const res = await settings.fetch(settings.endpoint, { method: "POST", headers, body, signal: abort.signal, redirect: "manual" });
    // The answer is read to the end in every case, so that the connection can be reused.
    const text = await res.text();
    if (res.status >= 200 && res.status < 300) return { kind: "stored", rejected: verdicts(text) };
    if (res.status == 429 || res.status >= 500) return { kind: "retry", status: res.status, retryAfter: res.headers.get("retry-after") };
    return { kind: "refused", status: res.status };
  } catch {
    // A network error or an abort: nobody knows whether the batch arrived, so it is sent again
    // with the same event ids, and the lake keeps one copy.
    return { kind: "retry", status: 0, retryAfter: null };
  } finally {
    clearTimeout(timer);
    settings.signal.removeEventListener("abort", onShutdown);
  }
}

/** The rejected events of a `200` answer; an answer without readable verdicts stored the batch. */
function verdicts(text: string): RejectedEvent[] {
  try {
    const rejected = (JSON.parse(text) as { rejected?: unknown }).rejected;
    return Array.isArray(rejected) ? (rejected as RejectedEvent[]) : [];
  } catch {
    return [];
  }
}
