// Where the queue, the identity and the consent decision live: localStorage when the page may
// use it, a Map when it may not (storage blocked, consent pending, opted out). Both are used
// through the Map-shaped interface below, so the rest of the SDK has one code path.

export interface Store {
  get(key: string): string | null | undefined;
  /** Throws when the browser refuses the write (quota exceeded). */
  set(key: string, value: string): unknown;
  delete(key: string): unknown;
  keys(): Iterable<string>;
}

// Every key starts with "driftless." so that ours are told apart from the site's own.
export const CONSENT_KEY = "driftless.c";
export const IDENTITY_KEY = "driftless.id";
/** ids of the batch a tab is sending while it holds the lock; other tabs leave them out of beacons */
export const INFLIGHT_KEY = "driftless.f";
/**
 * Each queued event has its own key, `driftless.e.<event_id>`, so that tabs appending and removing
 * events at the same time never overwrite each other (one shared array would lose events). UUIDv7
 * ids make key order creation order.
 */
export const EVENT_PREFIX = "driftless.e.";

/** localStorage, or undefined where the page may not use it. */
export function localStore(w: Window): Store | undefined {
  try {
    // Reading the property throws a SecurityError where storage is blocked (sandboxed iframes,
    // cookies disabled). getItem and friends, not named properties: those are 2-3 times slower
    // in Chromium.
    const ls = w.localStorage;
    return {
      get: (k) => ls.getItem(k),
      set: (k, v) => ls.setItem(k, v),
      delete: (k) => ls.removeItem(k),
      keys: () => Object.keys(ls),
    };
  } catch {
    return undefined;
  }
}

/** Write, reporting false when the browser refuses (quota exceeded). */
export function put(s: Store, key: string, value: string): boolean {
  try {
    s.set(key, value);
    return true;
  } catch {
    return false;
  }
}

/** Keys of queued events, oldest first. */
export function queued(s: Store): string[] {
  return [...s.keys()].filter((k) => k.startsWith(EVENT_PREFIX)).sort();
}
