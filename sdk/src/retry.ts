// When to send a failed batch again, for the browser and the server client alike: the server's
// `Retry-After` when it sent one, else exponential backoff with "full jitter".

export const RETRY_BASE_MS = 1000;

/**
 * Milliseconds to wait before retry number `attempt` (1 for the first retry).
 * - A `Retry-After` header is followed: delta-seconds (`120`) or an HTTP date
 *   (`Sat, 28 Nov 2026 14:30:00 GMT`; a date already past means now).
 * - Without one (or with one that cannot be read): full jitter, uniform in
 *   [0, min(max, base * 2^attempt)), which spreads out the many clients that failed at the same
 *   moment so that they do not all come back at once.
 */
export function retryDelay(attempt: number, retryAfter: string | null | undefined, max: number, base = RETRY_BASE_MS): number {
  // `+retryAfter` reads delta-seconds; what is not a number may be a date (NaN when it is not).
  const ms = retryAfter ? (+retryAfter >= 0 ? +retryAfter * 1000 : Math.max(0, Date.parse(retryAfter) - Date.now())) : NaN;
  return ms >= 0 ? ms : Math.random() * Math.min(max, base * 2 ** attempt);
}
