import { SCHEMA_VERSIONS, type EventType, type PropertiesOf } from "./events.generated.js";
import { newIdentity, nextSeq, readIdentity, touch, type Identity } from "./identity.js";
import { CONSENT_KEY, EVENT_PREFIX, IDENTITY_KEY, INFLIGHT_KEY, localStore, put, queued, type Store } from "./store.js";
import { retryDelay } from "./retry.js";
import { byteLength, encode, ENVELOPE_BYTES, fill, keyField, post, RETRY_MAX_MS } from "./transport.js";
import type { CommonProperties, Drop, DriftlessClient, DriftlessOptions, DropReason, EventContext, RejectedEvent, WireEvent } from "./types.js";
import { uuidv7 } from "./uuidv7.js";
import { SDK_VERSION } from "./version.js";

// Within the envelope schema's limits (title 1,024, URLs 4,096 characters), so that a long URL or
// title cannot get every event of a page rejected.
const cut = (s: string, n = 2048) => s.slice(0, n);

export function createClient(endpoint: string, options: DriftlessOptions = {}): DriftlessClient {
  const { batchSize = 20, maxBytes = 64_000, flushInterval = 5000, maxQueue = 1000, maxAttempts = 10, onDrop, key } = options;
  const field = keyField(key);
  const envelope = ENVELOPE_BYTES + byteLength(field);
  // Globals are read here, never at import, so that server-side rendering can import the SDK; on
  // a server the client is inert.
  const w: Window | undefined = globalThis.window;
  const nav = w?.navigator;
  const local = w && localStore(w);
  const saved = local?.get(CONSENT_KEY);
  const given = options.consent;
  /** true: granted, false: denied, undefined: pending (hold in memory) */
  let consent = saved ? saved == "1" : given == "pending" ? undefined : given != "denied";
  let store: Store = (consent && local) || new Map();
  let closed = !w;
  const start = Date.now();
  /** events tracked in this task, with their time, serialised and stored at its end */
  let buf: [WireEvent, number][] = [];
  let due = false;
  /** the identity record, read once per task and written back at its end */
  let ident: Identity | undefined;
  /** keys of events this page queued and has not seen leave the queue: what its beacons may carry */
  const own = new Set<string>();
  /** keys of the batch this tab is sending, or whose send ended in a network error (until its retry) */
  let inflight: string[] = [];
  /** Keys handed to a keepalive fetch by onHide (visibilitychange, then pagehide). */
  const fetched = new Set<string>();
  let unsure = false;
  let count = 0;
  let pendingBytes = 0;
  let sending: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let retryAt = 0;
  let attempts = 0;
  let base: Omit<EventContext, "page"> | undefined;
  /** super-properties, put on every event before its own properties */
  let supers: CommonProperties = {};

  const read = (key: string) => store.get(key);
  const forget = (keys: string[]) => {
    for (const key of keys) store.delete(key), own.delete(key);
  };
  // The timestamp is formatted here, at the end of the task, not in track(): toISOString costs
  // about as much as the rest of track().
  const serialise = ([ev, t]: [WireEvent, number]) => ((ev.timestamp = new Date(t).toISOString()), JSON.stringify(ev));
  const drop = (reason: DropReason, raws: (string | null | undefined)[], extra?: Partial<Drop>) => {
    const events = raws.flatMap((r) => (r ? [JSON.parse(r) as WireEvent] : []));
    try {
      if (events.length) onDrop?.({ reason, count: events.length, events, ...extra });
    } catch {
      // A throwing callback must not leave the queue half updated.
    }
  };
  const arm = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => ((timer = undefined), flush()), ms);
  };
  const identity = (now: number) => {
    if (!ident) (ident = readIdentity(store, now)), later();
    return ident;
  };
  // A microtask instead of a synchronous write keeps track() at a few microseconds: JSON.stringify
  // and a localStorage write cost tens of microseconds, and a burst of tracks pays for one
  // identity write. Microtasks run before any other task, so the page cannot unload first.
  const later = () => due || ((due = true), queueMicrotask(persist));

  function persist() {
    due = false;
    if (ident) put(store, IDENTITY_KEY, JSON.stringify(ident)), (ident = undefined);
    for (const item of buf) {
      const key = EVENT_PREFIX + item[0].event_id;
      const raw = serialise(item);
      const bytes = byteLength(raw) + 1;
      // An event no request can carry is dropped now rather than block the queue later.
      if (bytes + envelope > maxBytes) drop("too_large", [raw]);
      else if (put(store, key, raw)) own.add(key), count++, (pendingBytes += bytes);
      else drop("queue_full", [raw]);
    }
    const added = buf.length;
    buf = [];
    if (count > maxQueue) {
      const all = queued(store);
      const old = all.slice(0, -maxQueue);
      drop("queue_full", old.map(read));
      forget(old);
      count = all.length - old.length;
    }
    if (consent && added) {
      if (own.size >= batchSize || pendingBytes >= maxBytes) void flush();
      else if (!timer) arm(flushInterval);
    }
  }

  async function flush(): Promise<void> {
    if (due) persist();
    if (closed || !consent) return;
    const locks = nav!.locks;
    return (sending ||= (async () => {
      clearTimeout(timer);
      timer = undefined;
      pendingBytes = 0;
      // The Web Lock makes the regular sends of all tabs take turns, one batch per turn so that
      // a busy tab cannot starve the others.
      while (await (locks ? locks.request("driftless", sendBatch) : sendBatch()));
    })().finally(() => (sending = undefined)));
  }

  /** Send the oldest batch this tab may send. Runs under the lock; resolves true when another may follow. */
  async function sendBatch(): Promise<boolean> {
    if (inflight.length) store.delete(INFLIGHT_KEY), (inflight = []);
    // Chromium copies localStorage writes to other tabs' processes a moment after the lock is
    // handed over: until the previous holder's in-flight marker is gone here, the events it
    // delivered may still look queued. A marker that stays (its tab died mid-send) stops counting
    // after a second, and its batch is sent again.
    for (let i = 0; store.get(INFLIGHT_KEY) && i < 40; i++) await new Promise((r) => setTimeout(r, 25));
    if (!consent || !nav!.onLine) return false;
    const wait = retryAt - Date.now();
    if (wait > 0) return arm(wait), false;
    let keys = queued(store);
    count = keys.length;
    // Forget own events that another tab delivered.
    for (const key of own) if (!store.get(key)) own.delete(key);
    // Another open tab sends its events itself, by a regular flush or by a beacon as it leaves:
    // sending them here too would race that beacon. So a tab sends its own events and those
    // queued before it opened (left by closed pages); the key's UUIDv7 tells when.
    keys = keys.filter((k) => own.has(k) || parseInt(k.slice(12, 20) + k.slice(21, 25), 16) < start);
    const [batch] = fill(keys, read, batchSize, maxBytes, envelope);
    if (!batch.length) return false;
    inflight = batch;
    put(store, INFLIGHT_KEY, JSON.stringify(inflight));
    const more = await deliver(batch);
    // After a network error the batch stays marked in flight until its retry: a leaving page sees
    // its keepalive fetch fail while the browser still delivers it, so pagehide must hand the
    // batch over, not beacon it a second time.
    if (!unsure) store.delete(INFLIGHT_KEY), (inflight = []);
    return more;
  }

  /** Send one batch and act on the answer. Resolves true when the next batch may follow at once. */
  async function deliver(batch: string[]): Promise<boolean> {
    const raws = batch.map(read);
    const res = await post(w!, endpoint, encode(raws, field));
    // 0: a network error (offline, DNS, CORS, the browser's keepalive budget spent, or the page
    // leaving), after which nobody knows whether the batch arrived.
    const status = res ? res.status : 0;
    unsure = !status;
    if (res?.ok) {
      attempts = 0;
      let rejected: RejectedEvent[] = [];
      try {
        rejected = ((await res.json()) as { rejected?: RejectedEvent[] }).rejected || [];
      } catch {
        // No readable verdicts: the status alone says the batch was taken.
      }
      forget(batch);
      // A rejected event would be rejected again: it is never resent.
      drop("rejected", rejected.map((r) => raws[r.index]), { errors: rejected });
      return true;
    }
    // Going offline mid-send costs no attempt: the `online` event resumes sending.
    if (!status && !nav!.onLine) return false;
    if (!status || status == 429 || status > 499) {
      if (++attempts < maxAttempts) {
        const wait = retryDelay(attempts, res?.headers.get("retry-after"), RETRY_MAX_MS);
        retryAt = Date.now() + wait;
        arm(wait);
        return false;
      }
      attempts = 0;
      forget(batch);
      drop("retries_exhausted", raws, { status });
      return true;
    }
    // 400, 401 (a missing, unknown or disabled key), 403, 413, 415 and the other 4xx describe the
    // request itself: the same bytes would fail again. (Which key error it was is in the endpoint's
    // RequestsRejected metric: reading the body here would cost the bundle more than it tells.)
    forget(batch);
    drop("refused", raws, { status });
    return true;
  }

  /**
   * The page is hidden or going away: hand this page's own events to `sendBeacon`, which the
   * browser delivers after the page is gone. Only own events, and none that another tab is
   * sending, so that two tabs hiding at once never send one event twice; the rest stays stored
   * for the next regular flush of any tab.
   */
  function onHide(e: Event) {
    if (e.type != "pagehide" && w!.document.visibilityState != "hidden") return;
    if (due) persist();
    if (closed || !consent || !nav!.onLine) return;
    if (e.type == "pagehide" && inflight.length) {
      // The keepalive request carrying them outlives the page but its answer will not be read:
      // left stored, they would be sent again by the next page.
      forget(inflight);
      store.delete(INFLIGHT_KEY);
      inflight = [];
    }
    // The batch in flight, this tab's (when only hidden) or another's. Written with JSON.stringify.
    const busy = JSON.parse(store.get(INFLIGHT_KEY) || "[]") as string[];
    // Events a keepalive fetch already carries from an earlier hide of this page are not sent
    // again: if that fetch failed they stay stored, and the next page sends them.
    let rest = [...own].sort().filter((k) => !busy.includes(k) && !fetched.has(k));
    while (rest.length) {
      const [batch, n] = fill(rest, read, batchSize, maxBytes, envelope);
      rest = rest.slice(n);
      if (!batch.length) continue;
      if (nav!.sendBeacon?.(endpoint, encode(batch.map(read), field))) forget(batch);
      else {
        // No beacon, or the browser's 64 KiB budget for requests that outlive the page is spent:
        // a keepalive fetch is tried (its answer is acted on if the page lives on), the rest stays
        // stored for the next page.
        for (const k of batch) fetched.add(k);
        void deliver(batch);
        return;
      }
    }
  }

  function clear() {
    drop("opted_out", [...buf.map(serialise), ...queued(store).map(read)]);
    for (const s of [store, local]) if (s) for (const k of [...s.keys()]) if (k.startsWith("driftless.") && k != CONSENT_KEY) s.delete(k);
    own.clear();
    buf = [];
    ident = undefined;
    count = 0;
    store = new Map();
  }

  if (w) {
    base = {
      locale: nav!.language,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      screen: { width: w.screen.width, height: w.screen.height },
      sdk: { name: "driftless-js", version: SDK_VERSION },
    };
    // Never removed: after shutdown() the handlers find the client closed and do nothing.
    // Capture, to run before the page's own pagehide listeners: Chromium rejects the fetch of a
    // leaving page (its keepalive request goes on) at the first microtask checkpoint of the
    // dispatch, and the batch must still count as in flight when this runs, or it would be
    // beaconed a second time.
    w.addEventListener("pagehide", onHide, true);
    w.document.addEventListener("visibilitychange", onHide);
    w.addEventListener("online", () => ((retryAt = 0), flush()));
    if (consent === false) clear();
    // Events that a closed page left behind are sent by the first regular flush.
    else if ((count = queued(store).length)) arm(flushInterval);
  }

  function track<K extends EventType>(type: K, properties: PropertiesOf<K>) {
    if (closed || consent === false) return;
    const now = Date.now();
    const id = identity(now);
    const seq = nextSeq(id, now);
    const doc = w!.document;
    const ev: WireEvent<K> = {
      event_id: uuidv7(now),
      event_type: type,
      schema_version: SCHEMA_VERSIONS[type],
      timestamp: "",
      anonymous_id: id.a,
      user_id: id.u,
      session_id: id.s,
      seq,
      context: { page: { url: cut(w!.location.href), referrer: cut(doc.referrer), title: cut(doc.title, 1024) }, ...base! },
      properties: { ...supers, ...properties },
    };
    // Widened for the queue: K is known here, the queue holds every event type.
    buf.push([ev as unknown as WireEvent, now]);
    return ev.event_id;
  }

  return {
    track,
    page(properties) {
      const l = w?.location;
      // The page_viewed schema's limits; undefined keys are left out of the JSON.
      return l && track("page_viewed", { path: cut(l.pathname), search: cut(l.search) || undefined, title: cut(w!.document.title, 512) || undefined, ...properties });
    },
    register(properties) {
      Object.assign(supers, properties);
    },
    unregister(...names) {
      for (const name of names) delete supers[name];
    },
    ids() {
      if (closed || consent === false) return;
      // Asking counts as activity: the session the ids name is the one the next event carries.
      const now = Date.now();
      const id = touch(identity(now), now);
      return { anonymous_id: id.a, user_id: id.u, session_id: id.s };
    },
    identify(userId) {
      // The wire format has no empty user id: "" means none.
      identity(Date.now()).u = userId || null;
    },
    reset() {
      supers = {};
      ident = newIdentity(Date.now());
      later();
    },
    setConsent(granted) {
      if (local) put(local, CONSENT_KEY, granted ? "1" : "0");
      if (!granted) (consent = false), clear();
      else if (!consent) {
        consent = true;
        // Held events and identity move from memory to storage now that storing is allowed.
        if (local && store != local) {
          for (const k of store.keys()) put(local, k, store.get(k)!);
          store = local;
        }
        void flush();
      }
    },
    flush,
    async shutdown() {
      await flush();
      closed = true;
      clearTimeout(timer);
    },
  };
}
