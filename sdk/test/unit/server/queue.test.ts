// The server client's bounded queue, its drop callback, flush() and shutdown().
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { ServerDrop } from "../../../src/server/index.js";
import { CLOCK_START, useFakeClock } from "../fake-clock.js";
import { FakeIngest, page, settle, until, who } from "./fake-ingest.js";

useFakeClock();
let ingest: FakeIngest;
beforeEach(() => {
  ingest = new FakeIngest();
});

describe("queue bound", () => {
  it("drops an event tracked beyond maxQueue as queue_full, counting the batch in flight", async () => {
    const client = ingest.client({ maxQueue: 5, batchSize: 3, flushInterval: 60_000 });
    ingest.script.push("hang");
    for (let i = 0; i < 3; i++) client.track("page_viewed", page(i), who); // in flight
    await settle();
    expect(client.pending).toBe(3);
    expect(client.track("page_viewed", page(3), who)).toBeDefined();
    expect(client.track("page_viewed", page(4), who)).toBeDefined();
    expect(client.track("page_viewed", page(5), who)).toBeUndefined();
    expect(client.pending).toBe(5);
    expect(ingest.drops).toEqual([{ reason: "queue_full", count: 1, events: [expect.objectContaining({ seq: 5, properties: page(5) })] }]);
  });

  it("takes events again once the queue has room", async () => {
    const client = ingest.client({ maxQueue: 2 });
    client.track("page_viewed", page(0), who);
    client.track("page_viewed", page(1), who);
    expect(client.track("page_viewed", page(2), who)).toBeUndefined();
    await client.flush();
    expect(client.pending).toBe(0);
    expect(client.track("page_viewed", page(3), who)).toBeDefined();
    await client.flush();
    // The dropped event keeps its seq: the gap is how the lake sees the loss.
    expect(ingest.received.map((e) => e.seq)).toEqual([0, 1, 3]);
  });

  it("drops an event larger than maxBytes as too_large when it is tracked", () => {
    const client = ingest.client({ maxBytes: 2000 });
    expect(client.track("page_viewed", { path: "/" + "x".repeat(2000) }, who)).toBeUndefined();
    expect(ingest.drops.map((d) => d.reason)).toEqual(["too_large"]);
    expect(client.pending).toBe(0);
  });
});

describe("drop callback", () => {
  it("reports events the endpoint rejected, with its errors, and never resends them", async () => {
    const client = ingest.client();
    client.track("page_viewed", page(0), who);
    client.track("page_viewed", page(1), who);
    client.track("page_viewed", page(2), who);
    const errors = [{ path: "/properties/path", message: "must be at most 2048 characters" }];
    ingest.script.push((r) => ({
      status: 200,
      body: { accepted: 2, rejected: [{ index: 1, event_id: r.events[1]!.event_id, reason: "properties", errors }] },
    }));
    await client.flush();
    expect(ingest.drops).toEqual([
      {
        reason: "rejected",
        count: 1,
        events: [ingest.requests[0]!.events[1]],
        errors: [{ index: 1, event_id: ingest.requests[0]!.events[1]!.event_id, reason: "properties", errors }],
      },
    ]);
    await until(client.flush());
    expect(ingest.requests).toHaveLength(1);
  });

  it("ignores verdicts that point outside the batch, and a 200 without a readable body", async () => {
    const client = ingest.client();
    client.track("page_viewed", page(0), who);
    ingest.script.push({ status: 200, body: { accepted: 1, rejected: [{ index: 7, event_id: null, reason: "envelope", errors: [] }] } });
    await client.flush();
    client.track("page_viewed", page(1), who);
    ingest.script.push({ status: 200 });
    await client.flush();
    expect(ingest.drops).toEqual([]);
    expect(client.pending).toBe(0);
  });

  it("keeps delivering when the callback throws", async () => {
    const client = ingest.client({
      maxQueue: 1,
      onDrop: () => {
        throw new Error("callback bug");
      },
    });
    client.track("page_viewed", page(0), who);
    expect(client.track("page_viewed", page(1), who)).toBeUndefined();
    await client.flush();
    expect(ingest.received.map((e) => e.properties)).toEqual([page(0)]);
  });

  it("warns on the console by default, saying why", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const client = new FakeIngest().client({ onDrop: undefined, maxQueue: 1 });
    client.track("page_viewed", page(0), who);
    client.track("page_viewed", page(1), who);
    expect(warn).toHaveBeenCalledWith("driftless: dropped 1 event(s): queue_full");
  });
});

describe("flush()", () => {
  it("resolves once every event tracked before it was delivered, retries included", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const client = ingest.client({ flushInterval: 60_000 });
    client.track("page_viewed", page(0), who);
    ingest.script.push({ status: 503 }, { status: 503 });
    let flushed = false;
    const flushing = client.flush().then(() => (flushed = true));
    await vi.advanceTimersByTimeAsync(2000);
    await settle();
    expect(flushed).toBe(false);
    await until(flushing);
    expect(ingest.requests).toHaveLength(3);
    expect(client.pending).toBe(0);
  });

  it("does not wait for events tracked after it", async () => {
    const client = ingest.client({ batchSize: 2, flushInterval: 60_000 });
    // The first send hangs until its timeout, its retry is stored, the next batch hangs again.
    ingest.script.push("hang", { status: 200 }, "hang");
    client.track("page_viewed", page(0), who);
    const flushing = client.flush();
    for (let i = 1; i < 50; i++) client.track("page_viewed", page(i), who);
    await until(flushing);
    expect(ingest.requests.map((r) => r.events.map((e) => e.seq))).toEqual([[0], [0], [1, 2]]);
    expect(client.pending).toBe(49);
  });

  it("resolves at once when nothing is queued", async () => {
    await expect(ingest.client().flush()).resolves.toBeUndefined();
  });
});

describe("shutdown()", () => {
  it("delivers everything queued, then drops later events as closed", async () => {
    const client = ingest.client({ batchSize: 10, flushInterval: 60_000 });
    for (let i = 0; i < 25; i++) client.track("page_viewed", page(i), who);
    await client.shutdown();
    expect(ingest.received.map((e) => e.seq)).toEqual([...Array(25).keys()]);
    expect(client.track("page_viewed", page(99), who)).toBeUndefined();
    expect(ingest.drops.map((d) => [d.reason, d.count])).toEqual([["closed", 1]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("waits through retries", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const client = ingest.client();
    client.track("page_viewed", page(0), who);
    ingest.script.push({ status: 503, headers: { "retry-after": "2" } }, "network-error");
    await until(client.shutdown());
    expect(ingest.requests).toHaveLength(3);
    expect(ingest.drops).toEqual([]);
  });

  it("gives up at timeoutMs: aborts the request in flight and drops the rest as shutdown_timeout", async () => {
    const client = ingest.client({ batchSize: 2, timeout: 60_000 });
    ingest.script.push("hang");
    for (let i = 0; i < 5; i++) client.track("page_viewed", page(i), who);
    await settle();
    const drops: ServerDrop[] = ingest.drops;
    await until(client.shutdown({ timeoutMs: 3000 }));
    expect(Date.now() - CLOCK_START).toBeLessThan(3200);
    expect(ingest.requests).toHaveLength(1);
    expect(drops.map((d) => [d.reason, d.count])).toEqual([
      ["shutdown_timeout", 2],
      ["shutdown_timeout", 3],
    ]);
    expect(client.pending).toBe(0);
  });

  it("cuts a retry wait short at timeoutMs", async () => {
    const client = ingest.client();
    client.track("page_viewed", page(0), who);
    ingest.script.push({ status: 503, headers: { "retry-after": "20" } });
    await until(client.shutdown({ timeoutMs: 1000 }));
    expect(ingest.requests).toHaveLength(1);
    expect(ingest.drops.map((d) => d.reason)).toEqual(["shutdown_timeout"]);
  });

  it("is idempotent: a second call waits for the same drain", async () => {
    const client = ingest.client();
    client.track("page_viewed", page(0), who);
    const first = client.shutdown();
    expect(client.shutdown()).toBe(first);
    await first;
    expect(ingest.received).toHaveLength(1);
  });

  it("rejects a timeout that is not a number of milliseconds", () => {
    expect(() => ingest.client().shutdown({ timeoutMs: -1 })).toThrow("shutdown: timeoutMs must be a number of milliseconds, 0 or more, got -1");
  });
});
