// Checks of what callers pass in, so that a mistake fails at the call with a message that says
// what to fix, rather than as an event the endpoint rejects later (or a crash deep inside).
import type { ServerClientOptions, TrackOptions } from "./types.js";

/** The options with every default filled in. */
export type Settings = Required<Omit<ServerClientOptions, "onDrop" | "key">> & Pick<ServerClientOptions, "onDrop" | "key">;

/** The ingest function's default limits (docs/wire-format.md). */
export const MAX_EVENTS_PER_BATCH = 500;
const MAX_BODY_BYTES = 1_048_576;

function integer(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`createServerClient: ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export function readSettings(endpoint: unknown, options: ServerClientOptions): Settings {
  let url: URL;
  try {
    url = new URL(String(endpoint));
  } catch {
    throw new TypeError(`createServerClient: endpoint must be an absolute http(s) URL such as https://ingest.example.com/v1/batch, got ${JSON.stringify(endpoint)}`);
  }
  if (url.protocol != "http:" && url.protocol != "https:") {
    throw new TypeError(`createServerClient: endpoint must use http or https, got ${url.protocol}`);
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl != "function") throw new TypeError("createServerClient: no fetch available (Node.js 20 or later has one), pass options.fetch");
  if (options.onDrop !== undefined && typeof options.onDrop != "function") throw new TypeError("createServerClient: onDrop must be a function");
  // A header value cannot hold control characters; fetch would throw at every send instead.
  if (options.key !== undefined && (typeof options.key != "string" || !/^[\x21-\x7e]+$/.test(options.key))) {
    throw new TypeError(`createServerClient: key must be a non-empty string of visible ASCII characters (a source key), got ${describe(options.key)}`);
  }
  return {
    batchSize: integer("batchSize", options.batchSize, 100, 1, MAX_EVENTS_PER_BATCH),
    maxBytes: integer("maxBytes", options.maxBytes, 512_000, 1024, MAX_BODY_BYTES),
    flushInterval: integer("flushInterval", options.flushInterval, 1000, 0),
    maxQueue: integer("maxQueue", options.maxQueue, 10_000, 1),
    maxAttempts: integer("maxAttempts", options.maxAttempts, 10, 1),
    timeout: integer("timeout", options.timeout, 10_000, 1),
    retryBaseDelay: integer("retryBaseDelay", options.retryBaseDelay, 1000, 0),
    maxRetryDelay: integer("maxRetryDelay", options.maxRetryDelay, 30_000, 0),
    gzip: options.gzip ?? true,
    onDrop: options.onDrop,
    key: options.key,
    fetch: fetchImpl,
  };
}

function id(call: string, name: string, value: unknown, max: number): string {
  if (typeof value != "string" || value.length < 1 || value.length > max) {
    throw new TypeError(`${call}: ${name} must be a string of 1 to ${max} characters, got ${describe(value)}`);
  }
  return value;
}

const describe = (value: unknown) => (typeof value == "string" ? `${value.length} characters` : value === null ? "null" : typeof value);

/** The envelope fields a `track` call decides, checked as the envelope schema does. */
export function readTrackOptions(eventType: string, options: TrackOptions | undefined, now: number) {
  const call = `track(${JSON.stringify(eventType)})`;
  if (typeof options != "object" || options === null) {
    throw new TypeError(`${call}: the third argument must be an object with at least anonymous_id, e.g. { anonymous_id: "…" }`);
  }
  const user = options.user_id;
  return {
    anonymous_id: id(call, "anonymous_id", options.anonymous_id, 128),
    user_id: user === undefined || user === null ? null : id(call, "user_id", user, 256),
    session_id: options.session_id === undefined ? undefined : id(call, "session_id", options.session_id, 128),
    timestamp: eventTime(call, options.timestamp, now),
  };
}

// The years RFC 3339 can write (toISOString writes six-digit years beyond them).
const YEAR_0 = Date.parse("0000-01-01T00:00:00Z");
const YEAR_10000 = Date.parse("9999-12-31T23:59:59.999Z") + 1;

/** RFC 3339 in UTC with milliseconds, as the wire format carries it. */
function eventTime(call: string, timestamp: TrackOptions["timestamp"], now: number): string {
  if (timestamp === undefined) return new Date(now).toISOString();
  const ms = timestamp instanceof Date ? timestamp.getTime() : typeof timestamp == "number" ? timestamp : typeof timestamp == "string" ? rfc3339(timestamp) : NaN;
  if (!Number.isFinite(ms) || ms < YEAR_0 || ms >= YEAR_10000) {
    throw new TypeError(`${call}: timestamp must be a Date, epoch milliseconds or an RFC 3339 string such as 2026-11-28T14:30:00Z, got ${typeof timestamp == "string" ? JSON.stringify(timestamp) : timestamp instanceof Date ? `Date ${String(timestamp)}` : String(timestamp)}`);
  }
  return new Date(ms).toISOString();
}

// Date.parse takes many forms (and reads a time without a zone as local time): only RFC 3339,
// which names its offset, is accepted.
const RFC3339 = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/;
const rfc3339 = (s: string) => (RFC3339.test(s) ? Date.parse(s.replace(" ", "T")) : NaN);
