// The Node.js client: typed track() into a bounded in-memory queue, batches sent one request at
// a time with retries, and flush()/shutdown() that wait for delivery.
import { SCHEMA_VERSIONS, type EventType, type PropertiesOf } from "../events.generated.js";
import { retryDelay } from "../retry.js";
import { uuidv7 } from "../uuidv7.js";
import { SDK_VERSION } from "../version.js";
import { readSettings, readTrackOptions } from "./arguments.js";
import { batchBody, send, type RequestSettings } from "./request.js";
import { SequenceCounters } from "./sequence.js";
import type { ServerClient, ServerClientOptions, ServerDrop, ServerDropReason, ServerEvent, ShutdownOptions, TrackOptions } from "./types.js";

export const SERVER_SDK_NAME = "driftless-node";

/** An event waiting in the queue, serialised once: every retry sends the same bytes and `event_id`. */
interface Queued {
  raw: string;
  /** UTF-8 bytes of `raw`. */
  bytes: number;
  /** Position in the order of tracking: events settle (delivered or dropped) in this order. */
  index: number;
}

/** `{"sent_at":"…","events":[]}`: the bytes of a body around its events. */
const ENVELOPE_BYTES = batchBody([], 0).length;

function warn(drop: ServerDrop): void {
  const status = drop.status === undefined ? "" : ` (HTTP ${drop.status || "network error or timeout"})`;
  const why = drop.errors?.[0]?.errors[0];
  const detail = why ? `; first: ${why.path} ${why.message}` : "";
  console.warn(`driftless: dropped ${drop.count} event(s): ${drop.reason}${status}${detail}`);
}

export function createServerClient(endpoint: string, options: ServerClientOptions = {}): ServerClient {
  const settings = readSettings(endpoint, options);
  const { batchSize, maxBytes, flushInterval, maxQueue, maxAttempts, maxRetryDelay, retryBaseDelay } = settings;
  const onDrop = settings.onDrop ?? warn;
  // The events this client tracks without a session of their own belong to its run.
  const runId = uuidv7(Date.now());
  const sequences = new SequenceCounters();
  const sdk = { name: SERVER_SDK_NAME, version: SDK_VERSION };
  const stop = new AbortController();
  const request: RequestSettings = {
    fetch: settings.fetch,
    endpoint,
    gzip: settings.gzip,
    timeout: settings.timeout,
    userAgent: `${SERVER_SDK_NAME}/${SDK_VERSION} node/${process.versions.node}`,
    key: settings.key,
    signal: stop.signal,
  };

  let queue: Queued[] = [];
  let queuedBytes = 0;
  /** Events of the batch being delivered. */
  let inflight = 0;
  let tracked = 0;
  let settled = 0;
  /** Events tracked before this index are sent without waiting for a full batch (the timer fired, flush, shutdown). */
  let dueBefore = 0;
  const waiters: { upTo: number; resolve: () => void }[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sending: Promise<void> | undefined;
  let closed = false;
  let shuttingDown: Promise<void> | undefined;

  const report = (reason: ServerDropReason, raws: string[], extra?: Pick<ServerDrop, "status" | "errors">) => {
    if (!raws.length) return;
    try {
      onDrop({ reason, count: raws.length, events: raws.map((raw) => JSON.parse(raw) as ServerEvent), ...extra });
    } catch {
      // A throwing callback must not stop delivery of the other events.
    }
  };

  const settle = (count: number) => {
    settled += count;
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.upTo <= settled) waiters.splice(i, 1)[0]!.resolve();
    }
  };

  const due = () => queue.length > 0 && (queue[0]!.index < dueBefore || queue.length >= batchSize || queuedBytes + ENVELOPE_BYTES >= maxBytes);

  /** Start sending when a batch is due, or wait for the flush interval. */
  function pump(): void {
    if (sending || !queue.length) return;
    if (due()) {
      clearTimeout(timer);
      timer = undefined;
      sending = drain().finally(() => {
        sending = undefined;
        pump();
      });
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = undefined;
        dueBefore = tracked;
        pump();
      }, flushInterval);
    }
  }

  /** One request at a time, as long as batches are due. */
  async function drain(): Promise<void> {
    while (due()) {
      if (stop.signal.aborted) {
        const left = queue;
        queue = [];
        queuedBytes = 0;
        report("shutdown_timeout", left.map((e) => e.raw));
        settle(left.length);
        return;
      }
      await deliver(take());
    }
  }

  /** The oldest events that fit one request: at most batchSize, at most maxBytes of body. */
  function take(): Queued[] {
    let size = ENVELOPE_BYTES;
    let n = 0;
    for (; n < queue.length && n < batchSize; n++) {
      // +1 for the comma between events; the first event always fits (track checked it).
      size += queue[n]!.bytes + 1;
      if (n && size > maxBytes) break;
    }
    const batch = queue.splice(0, n);
    for (const e of batch) queuedBytes -= e.bytes + 1;
    inflight += batch.length;
    return batch;
  }

  /** Send one batch until it is stored or given up; settles its events either way. */
  async function deliver(batch: Queued[]): Promise<void> {
    const raws = batch.map((e) => e.raw);
    for (let attempt = 1; ; attempt++) {
      const outcome = await send(raws, request);
      if (outcome.kind == "stored") {
        const rejected = outcome.rejected.filter((r) => Number.isInteger(r.index) && r.index >= 0 && r.index < raws.length);
        // A rejected event would be rejected again: it is never resent.
        report("rejected", rejected.map((r) => raws[r.index]!), { errors: rejected });
        break;
      }
      if (outcome.kind == "refused") {
        // The endpoint is deployed with smaller limits than this client's: halves may pass.
        if (outcome.status == 413 && batch.length > 1) {
          // Each half settles its own events.
          const half = Math.ceil(batch.length / 2);
          await deliver(batch.slice(0, half));
          await deliver(batch.slice(half));
          return;
        }
        report("refused", raws, { status: outcome.status });
        break;
      }
      if (attempt >= maxAttempts) {
        report("retries_exhausted", raws, { status: outcome.status });
        break;
      }
      if (!stop.signal.aborted) await pause(Math.min(retryDelay(attempt, outcome.retryAfter, maxRetryDelay, retryBaseDelay), maxRetryDelay));
      if (stop.signal.aborted) {
        report("shutdown_timeout", raws);
        break;
      }
    }
    inflight -= batch.length;
    settle(batch.length);
  }

  /** Wait before a retry; cut short when shutdown runs out of time. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(wait);
        stop.signal.removeEventListener("abort", done);
        resolve();
      };
      const wait = setTimeout(done, ms);
      stop.signal.addEventListener("abort", done);
    });

  function track<K extends EventType>(eventType: K, properties: PropertiesOf<K>, options: TrackOptions): string | undefined {
    if (typeof eventType != "string" || !Object.hasOwn(SCHEMA_VERSIONS, eventType)) {
      throw new TypeError(`track: unknown event type ${JSON.stringify(eventType)}; known: ${Object.keys(SCHEMA_VERSIONS).join(", ")}`);
    }
    if (typeof properties != "object" || properties === null || Array.isArray(properties)) {
      throw new TypeError(`track(${JSON.stringify(eventType)}): properties must be an object`);
    }
    const now = Date.now();
    const who = readTrackOptions(eventType, options, now);
    // The caller's data is serialised before the event takes a seq: an event that cannot be
    // serialised was never tracked and leaves no gap.
    let tail: string;
    try {
      tail = ',"context":' + JSON.stringify({ ...options.context, sdk }) + ',"properties":' + JSON.stringify(properties) + "}";
    } catch (error) {
      throw new TypeError(`track(${JSON.stringify(eventType)}): the event cannot be serialised to JSON: ${(error as Error).message}`, { cause: error });
    }
    const envelope = {
      event_id: uuidv7(now),
      event_type: eventType,
      schema_version: SCHEMA_VERSIONS[eventType],
      timestamp: who.timestamp,
      anonymous_id: who.anonymous_id,
      user_id: who.user_id,
      session_id: who.session_id ?? runId,
      // Counted for every event that passed the checks above, dropped or not: a dropped event
      // leaves a gap, which is how the lake sees loss.
      seq: sequences.next(who.anonymous_id),
    };
    const raw = JSON.stringify(envelope).slice(0, -1) + tail;
    const bytes = Buffer.byteLength(raw);
    const refusal: ServerDropReason | undefined = closed
      ? "closed"
      : ENVELOPE_BYTES + bytes + 1 > maxBytes
        ? "too_large"
        : queue.length + inflight >= maxQueue
          ? "queue_full"
          : undefined;
    if (refusal) {
      report(refusal, [raw]);
      return undefined;
    }
    queue.push({ raw, bytes, index: tracked++ });
    queuedBytes += bytes + 1;
    pump();
    return envelope.event_id;
  }

  function flush(): Promise<void> {
    const upTo = tracked;
    if (settled >= upTo) return Promise.resolve();
    dueBefore = Math.max(dueBefore, upTo);
    const done = new Promise<void>((resolve) => waiters.push({ upTo, resolve }));
    pump();
    return done;
  }

  function shutdown(options: ShutdownOptions = {}): Promise<void> {
    const { timeoutMs } = options;
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      throw new RangeError(`shutdown: timeoutMs must be a number of milliseconds, 0 or more, got ${String(timeoutMs)}`);
    }
    return (shuttingDown ??= (async () => {
      closed = true;
      const drained = flush();
      if (timeoutMs !== undefined) {
        let limit: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([drained, new Promise<void>((resolve) => (limit = setTimeout(resolve, timeoutMs)))]);
        clearTimeout(limit);
        // Out of time: the request in flight is aborted, waits are cut short, the rest is dropped.
        if (settled < tracked) stop.abort();
      }
      await drained;
      clearTimeout(timer);
      timer = undefined;
    })());
  }

  return {
    track,
    flush,
    shutdown,
    get pending() {
      return queue.length + inflight;
    },
  };
}
