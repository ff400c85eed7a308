// How queued events become requests: batches that fit one beacon, the body of the wire format.

// `{"sent_at":"<24 chars>","events":[` + `]}`
export const ENVELOPE_BYTES = 50;
/** What the body carries besides the events: the source key, as `,"key":"…"` (empty without one). */
export const keyField = (key?: string) => (key ? ',"key":' + JSON.stringify(key) : "");
/**
 * Bytes the string takes in UTF-8, or a little more: what browsers hold against the 64 KiB limit
 * is bytes, not string length. Counting 3 bytes for every non-ASCII unit overcounts 2-byte
 * characters and surrogate pairs, which only makes batches a little smaller; TextEncoder would be
 * exact but costs several microseconds per event in Chromium.
 */
export const byteLength = (s: string) => s.length + 2 * (s.match(/[^\0-\x7f]/g) || []).length;

/**
 * Take the oldest of `keys` that fit one request: at most `count` events and `bytes` of body.
 * Returns them and how many keys were consumed (keys whose event is gone, sent by another tab,
 * are skipped). The first event always goes, so that no event can block the queue (the queue
 * never stores an event too big for a request on its own).
 */
export function fill(keys: string[], read: (key: string) => string | null | undefined, count: number, bytes: number, envelope = ENVELOPE_BYTES): [batch: string[], n: number] {
  const batch: string[] = [];
  let size = envelope;
  let n = 0;
  for (; n < keys.length && batch.length < count; n++) {
    const key = keys[n]!;
    const raw = read(key);
    if (raw == null) continue;
    // +1 for the comma between events.
    size += byteLength(raw) + 1;
    if (batch.length && size > bytes) break;
    batch.push(key);
  }
  return [batch, n];
}

/**
 * The request body; `sent_at` is set anew for every send, retries included, so ingest can correct
 * clock skew. `field` is the {@link keyField}: the source key goes in the body, not in a header,
 * since a header would cost a CORS preflight and `sendBeacon` cannot set one.
 */
export function encode(raws: (string | null | undefined)[], field = ""): string {
  return '{"sent_at":"' + new Date().toISOString() + '"' + field + ',"events":[' + raws.join() + "]}";
}

/**
 * A string body makes the request `text/plain;charset=UTF-8` with no custom header, a CORS "simple
 * request": no preflight round trip. `keepalive` lets the request finish if the page goes away.
 * Resolves to `undefined` on a network error.
 */
export function post(w: Window, url: string, body: string): Promise<Response | undefined> {
  return w.fetch(url, { method: "POST", body, keepalive: true }).catch(() => undefined);
}

/** The longest backoff between two sends of a batch (a `Retry-After` may ask for longer). */
export const RETRY_MAX_MS = 300_000;
