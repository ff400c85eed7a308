import type { EventType, PropertiesOf } from "./events.generated.js";

/** What the browser knew about the page when an event was tracked (wire field `context`). */
export interface EventContext {
  page: { url: string; referrer: string; title: string };
  locale: string;
  timezone: string;
  screen: { width: number; height: number };
  sdk: { name: string; version: string };
}

/** One event exactly as it travels to the ingest endpoint (see docs/wire-format.md). */
export interface WireEvent<K extends EventType = EventType> {
  event_id: string;
  event_type: K;
  schema_version: string;
  timestamp: string;
  anonymous_id: string;
  user_id: string | null;
  session_id: string;
  seq: number;
  context: EventContext;
  properties: PropertiesOf<K>;
}

/** The ingest endpoint's verdict on one event of a batch it answered with `200`. */
export interface RejectedEvent {
  index: number;
  event_id: string | null;
  errors: { path: string; message: string }[];
}

/**
 * Why events left the queue without being stored by the pipeline.
 * - `queue_full`: the persistent queue hit `maxQueue` (oldest go first) or the browser refused to store more.
 * - `rejected`: the endpoint judged the event invalid; resending would be rejected again.
 * - `refused`: the endpoint answered the whole batch with a status that retrying cannot fix (400, 413, 415, other 4xx).
 * - `retries_exhausted`: `maxAttempts` sends of the batch failed with 429, 5xx or a network error.
 * - `too_large`: the event alone is bigger than `maxBytes`, so no request could carry it (dropped when tracked).
 * - `opted_out`: consent was withdrawn, which clears the queue.
 */
export type DropReason = "queue_full" | "rejected" | "refused" | "retries_exhausted" | "too_large" | "opted_out";

export interface Drop {
  reason: DropReason;
  /** How many events were dropped (always `events.length`). */
  count: number;
  events: WireEvent[];
  /** HTTP status, for `refused` and `retries_exhausted` (0: the last attempt was a network error). */
  status?: number;
  /** The endpoint's per-event errors, for `rejected`. */
  errors?: RejectedEvent[];
}

/**
 * - `granted`: track, store and send.
 * - `denied`: nothing is queued, stored or sent; the queue and identifiers are cleared.
 * - `pending`: hold until consent: events are kept in memory only (never in storage, never sent)
 *   until `setConsent(true)` stores and sends them or `setConsent(false)` drops them.
 */
export type Consent = "granted" | "denied" | "pending";

export interface DriftlessOptions {
  /** Events that start a send, and the most one request carries. Default 20 (the endpoint takes up to 500). */
  batchSize?: number;
  /**
   * Bytes of queued events that start a send, and the most one request body holds. Default 64,000:
   * browsers refuse `sendBeacon` and `keepalive` bodies over 64 KiB in flight, so keep it below 65,536.
   */
  maxBytes?: number;
  /** Milliseconds an unfull batch waits before it is sent. Default 5,000. */
  flushInterval?: number;
  /** Most events kept in the persistent queue; beyond it the oldest are dropped. Default 1,000. */
  maxQueue?: number;
  /** Sends of one batch before it is dropped as `retries_exhausted`. Default 10. */
  maxAttempts?: number;
  /** Consent when the user has not decided yet (a decision given to `setConsent` is remembered). Default `granted`. */
  consent?: Consent;
  /** Called whenever events are dropped, with the reason and the events. */
  onDrop?: (drop: Drop) => void;
}

export interface DriftlessClient {
  /**
   * Queue one event. Returns its `event_id`, or `undefined` when nothing was queued (opted out,
   * shut down, or running on a server). `properties` are serialised at the end of the current task:
   * do not mutate them after the call.
   */
  track<K extends EventType>(eventType: K, properties: PropertiesOf<K>): string | undefined;
  /** Attach a user id to every following event (`null` detaches it). */
  identify(userId: string | null): void;
  /** Forget the user: new `anonymous_id` (with `seq` from 0), new session, no `user_id`. Queued events are still sent. */
  reset(): void;
  /** Record the user's decision; it is remembered across reloads. */
  setConsent(granted: boolean): void;
  /** Send what is queued now (unless offline, waiting for consent, or backing off); resolves when done. */
  flush(): Promise<void>;
  /** Send what is queued, then stop listening to the page; later calls do nothing. */
  shutdown(): Promise<void>;
}
