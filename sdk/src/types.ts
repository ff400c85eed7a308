import type { EventType, PageViewedProperties, PropertiesOf } from "./events.generated.js";

/** What the browser knew about the page when an event was tracked (wire field `context`). */
export interface EventContext {
  page: { url: string; referrer: string; title: string };
  locale: string;
  timezone: string;
  screen: { width: number; height: number };
  sdk: { name: string; version: string };
}

/** The fields of an event that every client sends alike (see docs/wire-format.md). */
export interface Envelope<K extends EventType = EventType> {
  event_id: string;
  event_type: K;
  schema_version: string;
  timestamp: string;
  anonymous_id: string;
  user_id: string | null;
  session_id: string;
  seq: number;
  properties: PropertiesOf<K>;
}

/** One event exactly as the browser SDK sends it to the ingest endpoint. */
export interface WireEvent<K extends EventType = EventType> extends Envelope<K> {
  context: EventContext;
}

/** Why the ingest endpoint rejected an event (docs/wire-format.md). */
export type RejectReason =
  | "not_an_object"
  | "too_large"
  | "envelope"
  | "unknown_event_type"
  | "unknown_schema_version"
  | "too_deep"
  | "string_too_long"
  | "too_many_properties"
  | "properties";

/** The ingest endpoint's verdict on one event of a batch it answered with `200`. */
export interface RejectedEvent {
  /** Position of the event in the batch. */
  index: number;
  event_id: string | null;
  reason: RejectReason;
  /** What to fix: a JSON pointer into the event and a message. */
  errors: { path: string; message: string }[];
}

/**
 * Why events left the queue without being stored by the pipeline.
 * - `queue_full`: the persistent queue hit `maxQueue` (oldest go first) or the browser refused to store more.
 * - `rejected`: the endpoint judged the event invalid; resending would be rejected again.
 * - `refused`: the endpoint answered the whole batch with a status that retrying cannot fix (400, 401 for a missing, unknown or disabled key, 403, 413, 415, other 4xx).
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
  /**
   * The site's source key (docs/operations.md, "Source keys"), sent as the batch's `key` field, in
   * the body, so that requests stay CORS simple requests and beacons carry it too. An endpoint with
   * keys answers a batch without a valid key `401`: its events are dropped as `refused` with
   * status 401, never retried.
   */
  key?: string;
}

/** One property's type in every member of a union of property types `P`, as one intersection. */
type EveryValue<P, K extends PropertyKey> = (P extends unknown ? (x: { v: P[K & keyof P] }) => void : never) extends (x: infer I) => void
  ? I extends { v: infer V }
    ? Exclude<V, undefined>
    : never
  : never;

/**
 * The schema's common properties: those that every event type declares, each with a type that
 * every one of them accepts (an enum in one schema and a string in another leaves the enum). They
 * are what a super-property can be, since it goes on every event and each event type's schema
 * rejects properties it does not declare. `P` is the union of the properties of every event type.
 */
export type CommonProperties<P = PropertiesOf<EventType>> = {
  [K in [P] extends [unknown] ? keyof P : never]?: EveryValue<P, K>;
};

/** `P` without keys outside `Allowed`: an object literal with an unknown key does not compile. */
export type Exactly<P, Allowed> = P & { [K in Exclude<keyof P, keyof Allowed>]: never };

/** Who the next event is about, as the wire format names the fields. */
export interface Ids {
  anonymous_id: string;
  user_id: string | null;
  session_id: string;
}

export interface DriftlessClient {
  /**
   * Queue one event. Returns its `event_id`, or `undefined` when nothing was queued (opted out,
   * shut down, or running on a server). `properties` are serialised at the end of the current task:
   * do not mutate them after the call.
   */
  track<K extends EventType>(eventType: K, properties: PropertiesOf<K>): string | undefined;
  /**
   * Track a `page_viewed` for the current page: `path`, `search` (when there is a query string)
   * and `title` from the page, overridden by `properties` (e.g. `{ category: "product" }`).
   * Returns the event's `event_id`, as `track` does.
   */
  page(properties?: Partial<PageViewedProperties>): string | undefined;
  /**
   * Add super-properties to every event tracked after this call, in this page (they are not
   * stored). The properties a `track` call names itself win. Typed by {@link CommonProperties}: only
   * properties that every event type declares.
   */
  register<P extends CommonProperties>(properties: Exactly<P, CommonProperties>): void;
  /** Remove super-properties by name. */
  unregister(...names: (keyof CommonProperties)[]): void;
  /**
   * The ids the next event will carry, e.g. to send along to a server that tracks events for this
   * browser with the Node.js client; `undefined` when nothing is tracked (opted out, shut down,
   * server). A session idle for 30 minutes is replaced first: the call counts as activity.
   */
  ids(): Ids | undefined;
  /** Attach a user id to every following event (`null` detaches it). */
  identify(userId: string | null): void;
  /** Forget the user: new `anonymous_id` (with `seq` from 0), new session, no `user_id`, no super-properties. Queued events are still sent. */
  reset(): void;
  /** Record the user's decision; it is remembered across reloads. */
  setConsent(granted: boolean): void;
  /** Send what is queued now (unless offline, waiting for consent, or backing off); resolves when done. */
  flush(): Promise<void>;
  /** Send what is queued, then stop listening to the page; later calls do nothing. */
  shutdown(): Promise<void>;
}
