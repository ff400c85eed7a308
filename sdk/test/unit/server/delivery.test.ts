// The server client's batching, requests, retries and drops, against a scripted endpoint under
// fake timers.
import { gunzipSync } from "node:zlib";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { CLOCK_START, useFakeClock } from "../fake-clock.js";
import { FakeIngest, page, settle, until, who } from "./fake-ingest.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const START = CLOCK_START;

useFakeClock();
let ingest: FakeIngest;
beforeEach(() => {
  ingest = new FakeIngest();
});

/** Advance the fake clock in steps, letting the client's promise chains run between them. */
async function elapse(ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    await vi.advanceTimersByTimeAsync(Math.min(step, ms - t));
    await settle();
  }
}

describe("batching", () => {
  it("sends as soon as batchSize events are queued", async () => {
    const client = ingest.client({ batchSize: 3, flushInterval: 60_000 });
    client.track("page_viewed", page(1), who);
    client.track("page_viewed", page(2), who);
    await settle();
    expect(ingest.requests).toHaveLength(0);
    client.track("page_viewed", page(3), who);
    await settle();
    expect(ingest.requests.map((r) => r.events.length)).toEqual([3]);
  });

  it("sends an unfull batch once flushInterval has passed", async () => {
    const client = ingest.client({ flushInterval: 2000 });
    client.track("page_viewed", page(1), who);
    await elapse(1900);
    expect(ingest.requests).toHaveLength(0);
    await elapse(100);
    expect(ingest.received.map((e) => e.properties)).toEqual([page(1)]);
  });

  it("sends as soon as the queued bytes reach maxBytes, and no body is larger", async () => {
    const client = ingest.client({ batchSize: 500, maxBytes: 8000, flushInterval: 60_000 });
    const long = (i: number) => ({ path: `/${i}/` + "x".repeat(1500) });
    for (let i = 0; i < 4; i++) client.track("page_viewed", long(i), who);
    await settle();
    expect(ingest.requests).toHaveLength(0);
    for (let i = 4; i < 12; i++) client.track("page_viewed", long(i), who);
    await client.flush();
    expect(ingest.received).toHaveLength(12);
    expect(ingest.requests.length).toBeGreaterThanOrEqual(3);
    for (const r of ingest.requests) expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(8000);
  });

  it("fills batches while a request is in flight instead of sending one request per event", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const client = ingest.client({ batchSize: 10, flushInterval: 60_000, timeout: 5000 });
    ingest.script.push("hang");
    // The first full batch goes out and hangs; 25 more events arrive meanwhile.
    for (let i = 0; i < 10; i++) client.track("page_viewed", page(i), who);
    await settle();
    for (let i = 10; i < 35; i++) client.track("page_viewed", page(i), who);
    await settle();
    expect(ingest.requests).toHaveLength(1);
    // The hanging request times out and is sent again.
    await until(client.flush());
    // The first 10 twice (timeout, retry), then two full batches, then the last 5 by flush().
    expect(ingest.requests.map((r) => r.events.length)).toEqual([10, 10, 10, 10, 5]);
    expect(ingest.received.slice(10).map((e) => (e.properties as { path: string }).path)).toEqual([...Array(35).keys()].map((i) => `/p/${i}`));
  });

  it("keeps the order of tracking across batches", async () => {
    const client = ingest.client({ batchSize: 7 });
    for (let i = 0; i < 30; i++) client.track("page_viewed", page(i), who);
    await client.flush();
    expect(ingest.requests.map((r) => r.events.length)).toEqual([7, 7, 7, 7, 2]);
    expect(ingest.received.map((e) => e.seq)).toEqual([...Array(30).keys()]);
  });
});

describe("requests", () => {
  it("carry the wire format's envelope with the ids the call gave", async () => {
    const client = ingest.client();
    const id = client.track("checkout_completed", { order_id: "o-1", total: 20, currency: "EUR", items: [{ product_id: "p", quantity: 2, price: 10 }] }, {
      anonymous_id: "browser-anon",
      user_id: "user-7",
      session_id: "browser-session",
      context: { locale: "de-DE", page: { url: "https://shop.test/checkout" } },
    });
    await client.flush();
    const [request] = ingest.requests;
    expect(request!.sent_at).toBe(new Date(START).toISOString());
    expect(request!.events).toEqual([
      {
        event_id: id,
        event_type: "checkout_completed",
        schema_version: "1-0-0",
        timestamp: "2026-11-28T14:00:00.000Z",
        anonymous_id: "browser-anon",
        user_id: "user-7",
        session_id: "browser-session",
        seq: 0,
        context: { locale: "de-DE", page: { url: "https://shop.test/checkout" }, sdk: { name: "driftless-node", version: "0.1.0" } },
        properties: { order_id: "o-1", total: 20, currency: "EUR", items: [{ product_id: "p", quantity: 2, price: 10 }] },
      },
    ]);
    expect(id).toMatch(UUID_V7);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers["user-agent"]).toMatch(/^driftless-node\/0\.1\.0 node\/\d+/);
    expect(request!.headers["x-driftless-key"]).toBeUndefined();
  });

  it("carry the source key in the X-Driftless-Key header, and not in the body", async () => {
    const client = ingest.client({ key: "dk_srv_1" });
    client.track("page_viewed", page(1), { anonymous_id: "a" });
    await client.flush();
    const [request] = ingest.requests;
    expect(request!.headers["x-driftless-key"]).toBe("dk_srv_1");
    expect(Object.keys(JSON.parse(request!.text) as object)).toEqual(["sent_at", "events"]);
  });

  it("count seq per anonymous_id from 0, and give events without a session the client's run id", async () => {
    const client = ingest.client();
    for (const anon of ["a", "b", "a", "a", "b"]) client.track("page_viewed", page(1), { anonymous_id: anon });
    await client.flush();
    expect(ingest.received.map((e) => [e.anonymous_id, e.seq])).toEqual([["a", 0], ["b", 0], ["a", 1], ["a", 2], ["b", 1]]);
    const sessions = new Set(ingest.received.map((e) => e.session_id));
    expect(sessions.size).toBe(1);
    expect([...sessions][0]).toMatch(UUID_V7);
    expect(ingest.received.every((e) => e.user_id === null)).toBe(true);
    // Another client (another process) has another run id.
    const other = ingest.client();
    other.track("page_viewed", page(2), who);
    await other.flush();
    expect(ingest.received.at(-1)!.session_id).not.toBe([...sessions][0]);
  });

  it("take a historical timestamp for backfills, as a Date, epoch milliseconds or RFC 3339", async () => {
    const client = ingest.client();
    client.track("page_viewed", page(1), { ...who, timestamp: new Date("2025-03-01T10:00:00Z") });
    client.track("page_viewed", page(2), { ...who, timestamp: Date.UTC(2025, 2, 1, 10, 0, 0, 250) });
    client.track("page_viewed", page(3), { ...who, timestamp: "2025-03-01T12:00:00.5+02:00" });
    await client.flush();
    expect(ingest.received.map((e) => e.timestamp)).toEqual(["2025-03-01T10:00:00.000Z", "2025-03-01T10:00:00.250Z", "2025-03-01T10:00:00.500Z"]);
    // sent_at is the clock of the send: ingest corrects skew with it and keeps the historical time.
    expect(ingest.requests[0]!.sent_at).toBe("2026-11-28T14:00:00.000Z");
  });

  it("serialise the event at track(): changing the objects afterwards changes nothing", async () => {
    const client = ingest.client();
    const properties = { path: "/before" };
    const context = { locale: "de-DE" };
    client.track("page_viewed", properties, { ...who, context });
    properties.path = "/after";
    context.locale = "fr-FR";
    await client.flush();
    expect(ingest.received[0]!.properties).toEqual({ path: "/before" });
    expect(ingest.received[0]!.context.locale).toBe("de-DE");
  });

  it("are gzipped by default, with Content-Encoding: gzip", async () => {
    const client = ingest.client({ gzip: true });
    for (let i = 0; i < 50; i++) client.track("page_viewed", page(i), who);
    await client.flush();
    const [request] = ingest.requests;
    expect(request!.headers["content-encoding"]).toBe("gzip");
    expect(request!.events).toHaveLength(50);
    expect(request!.wireBytes).toBeLessThan(Buffer.byteLength(request!.text) / 3);
  });

  it("sends plain JSON with gzip: false", async () => {
    const client = ingest.client({ gzip: false });
    client.track("page_viewed", page(1), who);
    await client.flush();
    expect(ingest.requests[0]!.headers["content-encoding"]).toBeUndefined();
    expect(ingest.requests[0]!.wireBytes).toBe(Buffer.byteLength(ingest.requests[0]!.text));
    expect(() => gunzipSync(Buffer.from(ingest.requests[0]!.text))).toThrow();
  });
});

describe("retries", () => {
  it("wait for Retry-After seconds and resend the same events with a new sent_at", async () => {
    const client = ingest.client();
    client.track("page_viewed", page(1), who);
    client.track("page_viewed", page(2), who);
    ingest.script.push({ status: 503, headers: { "retry-after": "3" }, body: { error: { code: "unavailable" } } });
    const flushed = client.flush();
    await settle();
    await elapse(2900);
    expect(ingest.requests).toHaveLength(1);
    await until(flushed);
    const [first, retry] = ingest.requests;
    expect(retry!.events.map((e) => e.event_id)).toEqual(first!.events.map((e) => e.event_id));
    expect(retry!.text.slice(retry!.text.indexOf('"events"'))).toBe(first!.text.slice(first!.text.indexOf('"events"')));
    expect(Date.parse(retry!.sent_at) - Date.parse(first!.sent_at)).toBe(3000);
    expect(ingest.drops).toEqual([]);
  });

  it("wait for Retry-After given as an HTTP date", async () => {
    const client = ingest.client();
    client.track("page_viewed", page(1), who);
    ingest.script.push({ status: 429, headers: { "retry-after": "Sat, 28 Nov 2026 14:00:08 GMT" } });
    const flushed = client.flush();
    await elapse(7900);
    expect(ingest.requests).toHaveLength(1);
    await until(flushed);
    expect(ingest.requests.map((r) => r.at - START)).toEqual([0, 8000]);
  });

  it("cap a Retry-After at maxRetryDelay", async () => {
    const client = ingest.client({ maxRetryDelay: 5000 });
    client.track("page_viewed", page(1), who);
    ingest.script.push({ status: 503, headers: { "retry-after": "3600" } });
    const flushed = client.flush();
    await until(flushed);
    expect(ingest.requests.map((r) => r.at - START)).toEqual([0, 5000]);
  });

  it("back off with full jitter on 429, 5xx, network errors and timeouts", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const client = ingest.client({ timeout: 1000, maxRetryDelay: 60_000 });
    client.track("page_viewed", page(1), who);
    ingest.script.push({ status: 429 }, { status: 500 }, "network-error", "hang", { status: 502 });
    const flushed = client.flush();
    await until(flushed);
    // Retry n waits random() * 1 s * 2^n: 1, 2, 4, 8, 16 s with random() = 0.5; the hanging
    // request adds its 1 s timeout.
    expect(ingest.requests.map((r) => r.at - START)).toEqual([0, 1000, 3000, 7000, 16_000, 32_000]);
    expect(new Set(ingest.requests.map((r) => r.events[0]!.event_id)).size).toBe(1);
    expect(ingest.drops).toEqual([]);
  });

  it("draw each wait between zero and the exponential ceiling", async () => {
    const random = vi.spyOn(Math, "random");
    const client = ingest.client({ retryBaseDelay: 100, maxRetryDelay: 1000, maxAttempts: 8 });
    client.track("page_viewed", page(1), who);
    ingest.script.push(...Array.from({ length: 7 }, () => ({ status: 503 })));
    // The lowest draw retries at once, the highest just under min(1000, 100 * 2^attempt).
    random.mockReturnValueOnce(0).mockReturnValueOnce(0.9999).mockReturnValueOnce(0.9999).mockReturnValueOnce(0.9999).mockReturnValue(0.9999);
    const flushed = client.flush();
    await until(flushed);
    const gaps = ingest.requests.slice(1).map((r, i) => r.at - ingest.requests[i]!.at);
    expect(gaps).toEqual([0, 399, 799, 999, 999, 999, 999]);
  });

  it("never retry a refused batch: 400, 401, 403, 415 and a redirect are dropped at once", async () => {
    for (const status of [400, 401, 403, 415, 301]) {
      ingest = new FakeIngest();
      const client = ingest.client();
      client.track("page_viewed", page(1), who);
      ingest.script.push({ status, headers: status == 301 ? { location: "https://elsewhere.test/" } : {}, body: { error: { code: "x", message: "y" } } });
      await client.flush();
      await elapse(60_000, 5000);
      expect(ingest.requests).toHaveLength(1);
      expect(ingest.drops.map((d) => [d.reason, d.status, d.count])).toEqual([["refused", status, 1]]);
    }
  });

  it("split a batch answered 413 in halves, down to single events", async () => {
    const client = ingest.client({ batchSize: 8 });
    // An endpoint deployed with a limit of 2 events per batch.
    ingest.script.push(...Array.from({ length: 20 }, () => (r: { events: unknown[] }) => (r.events.length > 2 ? { status: 413 } : { status: 200, body: { accepted: r.events.length, rejected: [] } })));
    for (let i = 0; i < 8; i++) client.track("page_viewed", page(i), who);
    await client.flush();
    expect(ingest.requests.map((r) => r.events.length)).toEqual([8, 4, 2, 2, 4, 2, 2]);
    expect(ingest.requests.filter((r) => r.events.length <= 2).flatMap((r) => r.events.map((e) => e.seq))).toEqual([...Array(8).keys()]);
    expect(ingest.drops).toEqual([]);
  });

  it("drop a single event answered 413 as refused", async () => {
    const client = ingest.client();
    client.track("page_viewed", page(1), who);
    ingest.script.push({ status: 413 });
    await client.flush();
    expect(ingest.drops.map((d) => [d.reason, d.status])).toEqual([["refused", 413]]);
  });

  it("give up after maxAttempts and report retries_exhausted with the last status", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.1);
    const client = ingest.client({ maxAttempts: 3 });
    client.track("page_viewed", page(1), who);
    client.track("page_viewed", page(2), who);
    ingest.script.push({ status: 503 }, { status: 500 }, "network-error");
    const flushed = client.flush();
    await until(flushed);
    expect(ingest.requests).toHaveLength(3);
    expect(ingest.drops).toEqual([{ reason: "retries_exhausted", count: 2, status: 0, events: ingest.requests[0]!.events }]);
    // The next batch starts with fresh attempts.
    client.track("page_viewed", page(3), who);
    await client.flush();
    expect(ingest.received.at(-1)!.properties).toEqual(page(3));
  });
});

describe("timeouts", () => {
  it("abort a request that takes longer than timeout and send the batch again", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const client = ingest.client({ timeout: 2500 });
    client.track("page_viewed", page(1), who);
    ingest.script.push("hang");
    const flushed = client.flush();
    await elapse(2400);
    expect(ingest.requests).toHaveLength(1);
    await until(flushed);
    // Aborted at 2.5 s, retried after random() * 2 s = 1 s.
    expect(ingest.requests.map((r) => r.at - START)).toEqual([0, 3500]);
    expect(ingest.requests[1]!.events[0]!.event_id).toBe(ingest.requests[0]!.events[0]!.event_id);
  });

  it("also covers an answer whose body never ends", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    let calls = 0;
    const client = ingest.client({
      timeout: 1000,
      fetch: async (url, init) => {
        const answer = await ingest.fetch(url, init);
        if (calls++) return answer;
        // Headers arrive, then the body stalls until the request is aborted.
        const body = new ReadableStream({
          start: (controller) => init?.signal?.addEventListener("abort", () => controller.error(new DOMException("aborted", "AbortError"))),
        });
        return new Response(body, { status: 200 });
      },
    });
    client.track("page_viewed", page(1), who);
    const flushed = client.flush();
    await until(flushed);
    expect(ingest.requests.map((r) => r.at - START)).toEqual([0, 2000]);
    expect(ingest.drops).toEqual([]);
  });
});
