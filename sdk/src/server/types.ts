import type { EventType, PropertiesOf } from "../events.generated.js";
import type { Envelope, RejectedEvent } from "../types.js";

/**
 * What a server knows of where an event happened, when it acts for a browser (wire field
 * `context`, without `sdk`, which the client sets).
 */
export interface ServerContext {
  page?: { url?: string; referrer?: string; title?: string };
  locale?: string;
  timezone?: string;
  screen?: { width: number; height: number };
}

/** Who an event is about and when it happened: given with every `track` call. */
export interface TrackOptions {
  /**
   * The browser's `anonymous_id` when the server acts for a browser (the browser SDK's `ids()`),
   * or an id of the server's own for the person (1 to 128 characters).
   */
  anonymous_id: string;
  /** The signed-in user, if known (1 to 256 characters). */
  user_id?: string | null;
  /**
   * The browser's `session_id` when the server acts for a browser request. Default: the client's
   * own run id, one per `createServerClient` (1 to 128 characters).
   */
  session_id?: string;
  /**
   * When the event happened, for backfills: a `Date`, milliseconds since the epoch or an RFC 3339
   * string. Default: now.
   */
  timestamp?: Date | number | string;
  context?: ServerContext;
}

/** One event as the server client sends it (see docs/wire-format.md). */
export interface ServerEvent<K extends EventType = EventType> extends Envelope<K> {
  context: ServerContext & { sdk: { name: string; version: string } };
}

/**
 * Why events were dropped, never to be sent again.
 * - `queue_full`: `maxQueue` events were waiting or in flight; the new event was not queued.
 * - `too_large`: the event alone is bigger than `maxBytes`, so no request could carry it.
 * - `rejected`: the endpoint judged the event invalid (`errors` says why); it would be rejected again.
 * - `refused`: the endpoint answered the whole batch with a status that a retry cannot change
 *   (400, 401, 403, 413 for a single event, 415, other 4xx, a redirect).
 * - `retries_exhausted`: `maxAttempts` sends failed with 429, 5xx, a network error or a timeout.
 * - `closed`: tracked after `shutdown()`.
 * - `shutdown_timeout`: still queued or in flight when `shutdown({ timeoutMs })` ran out; events
 *   in flight at that moment may have been stored.
 */
export type ServerDropReason = "queue_full" | "too_large" | "rejected" | "refused" | "retries_exhausted" | "closed" | "shutdown_timeout";

export interface ServerDrop {
  reason: ServerDropReason;
  /** How many events were dropped (always `events.length`). */
  count: number;
  events: ServerEvent[];
  /** HTTP status of the last answer, for `refused` and `retries_exhausted` (0: network error or timeout). */
  status?: number;
  /** The endpoint's verdicts, for `rejected`. */
  errors?: RejectedEvent[];
}

export interface ServerClientOptions {
  /** Events that start a send, and the most one request carries. Default 100 (the endpoint takes up to 500). */
  batchSize?: number;
  /**
   * Bytes of queued events (JSON, before gzip) that start a send, and the most one request holds.
   * Default 512,000: under the endpoint's 1 MiB body limit even for data that gzip cannot shrink.
   */
  maxBytes?: number;
  /** Milliseconds an unfull batch waits before it is sent. Default 1,000. */
  flushInterval?: number;
  /** Most events waiting or in flight; an event tracked beyond it is dropped as `queue_full`. Default 10,000. */
  maxQueue?: number;
  /** Sends of one batch (the first and its retries) before it is dropped as `retries_exhausted`. Default 10. */
  maxAttempts?: number;
  /** Milliseconds one request may take before it is aborted and retried. Default 10,000. */
  timeout?: number;
  /** Base of the exponential backoff, in milliseconds. Default 1,000. */
  retryBaseDelay?: number;
  /** Longest wait between two sends of a batch, `Retry-After` included, in milliseconds. Default 30,000. */
  maxRetryDelay?: number;
  /** Send bodies gzipped (`Content-Encoding: gzip`). Default true. */
  gzip?: boolean;
  /**
   * Called whenever events are dropped, with the reason and the events. Default: one
   * `console.warn` line per drop. A callback that throws is ignored.
   */
  onDrop?: (drop: ServerDrop) => void;
  /** The `fetch` to send with (a proxy agent, a test double). Default: Node's global `fetch`. */
  fetch?: typeof fetch;
  /**
   * The source key of this server (docs/operations.md, "Source keys"), sent in the
   * `X-Driftless-Key` header of every request. An endpoint with keys answers `401` without a valid
   * one: the batch is dropped as `refused` with status 401, never retried.
   */
  key?: string;
}

export interface ShutdownOptions {
  /**
   * Milliseconds to wait for delivery. When they run out, the request in flight is aborted and
   * what is left is dropped as `shutdown_timeout`. Default: no limit (retries still end after
   * `maxAttempts`).
   */
  timeoutMs?: number;
}

export interface ServerClient {
  /**
   * Queue one event. `eventType` and `properties` are typed from `schema/` exactly as the browser
   * SDK's `track`. The event is serialised now: the objects may be reused after the call. Returns
   * the event's `event_id`, or `undefined` when it was dropped at once (`queue_full`, `too_large`,
   * `closed`; `onDrop` says which). Throws a `TypeError` for arguments no schema can accept (no
   * `anonymous_id`, an invalid `timestamp`, an unknown event type from untyped code).
   */
  track<K extends EventType>(eventType: K, properties: PropertiesOf<K>, options: TrackOptions): string | undefined;
  /** Send everything tracked before this call; resolves once each of those events was delivered or dropped. */
  flush(): Promise<void>;
  /** Stop taking events (later `track` calls drop them as `closed`), then deliver everything queued. */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /** Events waiting or in flight. */
  readonly pending: number;
}
