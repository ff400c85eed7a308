/**
 * `seq` for the events a server tracks: per `anonymous_id`, from 0, one more per event, counted
 * by this client. A server has no storage per visitor, so the count lives in memory and starts at
 * 0 again in every process. The ids least recently tracked are forgotten beyond `capacity`, so
 * that a long-running server tracking for millions of visitors keeps a bounded map (a forgotten
 * id starts again at 0).
 */
export class SequenceCounters {
  /** Map order is recency order: an id is moved to the end each time it is used. */
  private readonly last = new Map<string, number>();

  constructor(private readonly capacity = 50_000) {}

  next(anonymousId: string): number {
    const seq = (this.last.get(anonymousId) ?? -1) + 1;
    this.last.delete(anonymousId);
    this.last.set(anonymousId, seq);
    if (this.last.size > this.capacity) this.last.delete(this.last.keys().next().value!);
    return seq;
  }
}
