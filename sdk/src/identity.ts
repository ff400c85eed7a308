import { IDENTITY_KEY, type Store } from "./store.js";
import { uuidv7 } from "./uuidv7.js";

/**
 * Who is tracking, stored as one record so that one read and one write per task keep every tab
 * of the browser on the same anonymous id, session and `seq` counter. Short keys: it is read
 * on every task that tracks.
 */
export interface Identity {
  /** anonymous_id */
  a: string;
  /** user_id */
  u: string | null;
  /** session_id */
  s: string;
  /** seq of the last event tracked under `a`; -1 before the first */
  q: number;
  /** milliseconds of the last event, for the session's idle timeout */
  t: number;
}

export const SESSION_IDLE_MS = 30 * 60 * 1000;

export function newIdentity(now: number): Identity {
  return { a: uuidv7(now), u: null, s: uuidv7(now), q: -1, t: now };
}

export function readIdentity(store: Store, now: number): Identity {
  try {
    const id = JSON.parse(store.get(IDENTITY_KEY)!) as Identity;
    if (id.a) return id;
  } catch {
    // Missing or corrupt: a new identity is better than never tracking again.
  }
  return newIdentity(now);
}

/** Activity at `now`: a session idle for longer than SESSION_IDLE_MS is replaced by a new one. */
export function touch(id: Identity, now: number): Identity {
  if (now - id.t > SESSION_IDLE_MS) id.s = uuidv7(now);
  id.t = now;
  return id;
}

/** Advance the identity for an event at `now`: rotate an idle session, count `seq` up. */
export function nextSeq(id: Identity, now: number): number {
  return ++touch(id, now).q;
}
