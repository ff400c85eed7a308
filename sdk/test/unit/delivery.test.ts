import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Drop } from "../../src/index.js";
import { Browser, page, settle } from "./fake-browser.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let browser: Browser;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: Date.UTC(2026, 10, 28, 14, 0, 0) });
  browser = new Browser();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("batching", () => {
  it("sends as soon as batchSize events are queued", async () => {
    const client = browser.tab().open({ batchSize: 3 });
    client.track("page_viewed", page(1));
    client.track("page_viewed", page(2));
    await settle();
    expect(browser.requests).toHaveLength(0);
    client.track("page_viewed", page(3));
    await settle();
    expect(browser.requests).toHaveLength(1);
    expect(browser.received.map((e) => e.properties)).toEqual([page(1), page(2), page(3)]);
  });

  it("sends an unfull batch once flushInterval has passed", async () => {
    const client = browser.tab().open({ flushInterval: 5000 });
    client.track("page_viewed", page(1));
    await vi.advanceTimersByTimeAsync(4999);
    await settle();
    expect(browser.requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(browser.received).toHaveLength(1);
  });

  it("sends as soon as the queued events reach maxBytes", async () => {
    const client = browser.tab().open({ batchSize: 100, maxBytes: 4000 });
    const long = { path: "/" + "x".repeat(1500) };
    client.track("page_viewed", long);
    await settle();
    expect(browser.requests).toHaveLength(0);
    client.track("page_viewed", long);
    client.track("page_viewed", long);
    await settle();
    expect(browser.received).toHaveLength(3);
    for (const r of browser.requests) expect(r.bytes).toBeLessThanOrEqual(4000);
  });

  it("flush() drains a queue longer than one batch, oldest first", async () => {
    const client = browser.tab().open({ batchSize: 20 });
    for (let i = 0; i < 45; i++) client.track("page_viewed", page(i));
    await client.flush();
    await settle();
    expect(browser.requests.map((r) => r.events.length)).toEqual([20, 20, 5]);
    expect(browser.received.map((e) => e.seq)).toEqual([...Array(45).keys()]);
    expect(browser.queued).toEqual([]);
  });
});

describe("requests", () => {
  it("carry every envelope field of the wire format", async () => {
    const tab = browser.tab("https://shop.test/p/42?ref=mail");
    const client = tab.open();
    const id = client.track("product_viewed", { product_id: "42", price: 89.9, currency: "EUR" });
    await client.flush();
    const [event] = browser.received;
    expect(event).toEqual({
      event_id: id,
      event_type: "product_viewed",
      schema_version: "1-0-0",
      timestamp: "2026-11-28T14:00:00.001Z",
      anonymous_id: expect.stringMatching(UUID_V7),
      user_id: null,
      session_id: expect.stringMatching(UUID_V7),
      seq: 0,
      context: {
        page: { url: "https://shop.test/p/42?ref=mail", referrer: "https://search.test/", title: "Shop" },
        locale: "de-DE",
        timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
        screen: { width: 1440, height: 900 },
        sdk: { name: "driftless-js", version: "0.1.0" },
      },
      properties: { product_id: "42", price: 89.9, currency: "EUR" },
    });
    expect(id).toMatch(UUID_V7);
    expect(browser.requests[0]!.sent_at).toMatch(ISO_MS);
  });

  it("are CORS simple requests: POST, a string body (text/plain), no custom header, keepalive", async () => {
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    await client.flush();
    const init = browser.requests[0]!.init!;
    expect(init.method).toBe("POST");
    expect(typeof init.body).toBe("string");
    expect(init.headers).toBeUndefined();
    expect(init.keepalive).toBe(true);
    expect(init.credentials).toBeUndefined();
  });

  it("keep every body under 64 KiB, however large the batch", async () => {
    const client = browser.tab().open({ batchSize: 500 });
    for (let i = 0; i < 60; i++) client.track("page_viewed", { path: `/${i}/` + "x".repeat(2000), search: "?" + "q".repeat(1500) });
    await client.flush();
    expect(browser.requests.length).toBeGreaterThan(2);
    for (const r of browser.requests) expect(r.bytes).toBeLessThan(65_536);
    expect(new Set(browser.received.map((e) => e.event_id)).size).toBe(60);
  });
});

describe("verdicts", () => {
  it("remove accepted events and never resend a rejected one", async () => {
    const drops: Drop[] = [];
    const client = browser.tab().open({ onDrop: (d) => drops.push(d) });
    client.track("page_viewed", page(1));
    const bad = client.track("product_viewed", { product_id: "1", price: 1, currency: "EUR" });
    client.track("page_viewed", page(3));
    const errors = [{ path: "/properties/price", message: "must be a number" }];
    browser.script.push({ status: 200, body: { accepted: 2, rejected: [{ index: 1, event_id: bad, errors }] } });
    await client.flush();
    expect(browser.queued).toEqual([]);
    expect(drops).toEqual([
      { reason: "rejected", count: 1, events: [expect.objectContaining({ event_id: bad })], errors: [{ index: 1, event_id: bad, errors }] },
    ]);
    client.track("page_viewed", page(4));
    await client.flush();
    expect(browser.requests[1]!.events.map((e) => e.properties)).toEqual([page(4)]);
  });

  it.each([400, 413, 415, 403])("are final for a batch answered %i: dropped as refused, not retried", async (status) => {
    const drops: Drop[] = [];
    const client = browser.tab().open({ onDrop: (d) => drops.push(d) });
    client.track("page_viewed", page(1));
    browser.script.push({ status, body: { error: { code: "x", message: "y" } } });
    await client.flush();
    await vi.advanceTimersByTimeAsync(3_600_000);
    await settle();
    expect(browser.requests).toHaveLength(1);
    expect(drops).toEqual([{ reason: "refused", count: 1, status, events: [expect.objectContaining({ seq: 0 })] }]);
    expect(browser.queued).toEqual([]);
  });

  it.each(["missing_key", "unknown_key", "key_disabled"])("are final for a batch answered 401 %s: dropped as refused, not retried", async (code) => {
    const drops: Drop[] = [];
    const client = browser.tab().open({ key: "dk_web_old", onDrop: (d) => drops.push(d) });
    client.track("page_viewed", page(1));
    browser.script.push({ status: 401, body: { error: { code, message: "a key the endpoint does not take" } } });
    await client.flush();
    await vi.advanceTimersByTimeAsync(3_600_000);
    await settle();
    expect(browser.requests).toHaveLength(1);
    expect(drops).toEqual([{ reason: "refused", count: 1, status: 401, events: [expect.objectContaining({ seq: 0 })] }]);
    expect(browser.queued).toEqual([]);
    // The next batch is sent: a key fixed in the endpoint's configuration takes effect without a reload.
    client.track("page_viewed", page(2));
    await client.flush();
    await settle();
    expect(browser.received.map((e) => e.properties)).toEqual([page(1), page(2)]);
    expect(drops).toHaveLength(1);
  });

});

describe("source key", () => {
  it("goes in the body of every fetch, as the batch's key field, with no header and no preflight", async () => {
    const client = browser.tab().open({ key: "dk_web_2026a" });
    client.track("page_viewed", page(1));
    await client.flush();
    await settle();
    const [request] = browser.requests;
    expect(JSON.parse(request!.body)).toEqual({ sent_at: request!.sent_at, key: "dk_web_2026a", events: [expect.objectContaining({ seq: 0 })] });
    // A string body without headers is a CORS simple request (text/plain): no OPTIONS round trip.
    expect(request!.init?.headers).toBeUndefined();
    expect(typeof request!.init?.body).toBe("string");
  });

  it("goes in every beacon's body too, which cannot carry headers", () => {
    const tab = browser.tab();
    const client = tab.open({ key: "dk_web_2026a" });
    client.track("page_viewed", page(1));
    tab.hide();
    expect(browser.requests.map((r) => [r.via, (JSON.parse(r.body) as { key?: string }).key])).toEqual([["beacon", "dk_web_2026a"]]);
  });

  it("is left out without the option (keyless endpoints)", async () => {
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    await client.flush();
    await settle();
    expect(Object.keys(JSON.parse(browser.requests[0]!.body) as object)).toEqual(["sent_at", "events"]);
  });

  it("counts against maxBytes, so that a body with a long key still fits", async () => {
    const key = "dk_" + "k".repeat(500);
    const client = browser.tab().open({ key, batchSize: 100, maxBytes: 4000 });
    for (let i = 0; i < 12; i++) client.track("page_viewed", { path: "/" + "x".repeat(300) + i });
    await client.flush();
    await settle();
    expect(browser.received).toHaveLength(12);
    expect(browser.requests.length).toBeGreaterThan(1);
    for (const r of browser.requests) expect(r.bytes).toBeLessThanOrEqual(4000);
  });
});

describe("retries", () => {
  it("wait for Retry-After on 503 and resend the same events with a new sent_at", async () => {
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    client.track("page_viewed", page(2));
    browser.script.push({ status: 503, headers: { "retry-after": "2" }, body: { error: {} } });
    await client.flush();
    expect(browser.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1999);
    await settle();
    expect(browser.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    const [first, retry] = browser.requests;
    expect(retry!.events.map((e) => e.event_id)).toEqual(first!.events.map((e) => e.event_id));
    expect(Date.parse(retry!.sent_at) - Date.parse(first!.sent_at)).toBe(2000);
    expect(browser.queued).toEqual([]);
  });

  it("wait for Retry-After given as an HTTP date", async () => {
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    // The fake clock starts at 2026-11-28T14:00:00Z; the track moved it by a millisecond.
    browser.script.push({ status: 429, headers: { "retry-after": "Sat, 28 Nov 2026 14:00:10 GMT" } });
    await client.flush();
    const first = Date.parse(browser.requests[0]!.sent_at);
    await vi.advanceTimersByTimeAsync(9_000);
    await settle();
    expect(browser.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(browser.requests).toHaveLength(2);
    expect(Date.parse(browser.requests[1]!.sent_at)).toBe(Date.UTC(2026, 10, 28, 14, 0, 10));
    expect(first).toBeLessThan(Date.UTC(2026, 10, 28, 14, 0, 1));
    expect(browser.queued).toEqual([]);
  });

  it("back off with full jitter on 429, 5xx and network errors", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    browser.script.push({ status: 429 }, { status: 500 }, "network-error", { status: 502 });
    const start = Date.now();
    await client.flush();
    const times: number[] = [0];
    for (let i = 0; i < 40; i++) {
      await vi.advanceTimersByTimeAsync(250);
      await settle();
      while (times.length < browser.requests.length) times.push(Date.now() - start);
    }
    // Attempt n waits random() * base * 2^n: 1 s, 2 s, 4 s, 8 s with random() = 0.5.
    expect(times).toEqual([0, 1000, 3000, 7000, 15000].slice(0, times.length));
    await vi.advanceTimersByTimeAsync(10_000);
    await settle();
    expect(browser.requests).toHaveLength(5);
    expect(browser.queued).toEqual([]);
  });

  it("give up after maxAttempts and report the batch as retries_exhausted", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.01);
    const drops: Drop[] = [];
    const client = browser.tab().open({ maxAttempts: 3, onDrop: (d) => drops.push(d) });
    client.track("page_viewed", page(1));
    browser.script.push(...Array.from({ length: 10 }, () => ({ status: 503 })));
    await client.flush();
    await vi.advanceTimersByTimeAsync(60_000);
    await settle();
    expect(browser.requests).toHaveLength(3);
    expect(drops).toEqual([{ reason: "retries_exhausted", count: 1, status: 503, events: [expect.objectContaining({ seq: 0 })] }]);
    expect(browser.queued).toEqual([]);
  });

  it("wait while offline without spending attempts, and send once back online", async () => {
    const tab = browser.tab();
    const client = tab.open({ maxAttempts: 2 });
    tab.offline();
    client.track("page_viewed", page(1));
    await client.flush();
    await vi.advanceTimersByTimeAsync(3_600_000);
    await settle();
    expect(browser.requests).toHaveLength(0);
    expect(browser.queued).toHaveLength(1);
    tab.online();
    await settle();
    expect(browser.received.map((e) => e.properties)).toEqual([page(1)]);
  });

  it("do not hammer the endpoint with count-triggered flushes while backing off", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const client = browser.tab().open({ batchSize: 2 });
    browser.script.push({ status: 503, headers: { "retry-after": "30" } });
    client.track("page_viewed", page(1));
    client.track("page_viewed", page(2));
    await settle();
    expect(browser.requests).toHaveLength(1);
    for (let i = 0; i < 10; i++) {
      client.track("page_viewed", page(i + 3));
      await vi.advanceTimersByTimeAsync(1000);
      await settle();
    }
    expect(browser.requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(20_000);
    await settle();
    expect(browser.received.length).toBe(2 + 12);
    expect(new Set(browser.received.slice(2).map((e) => e.seq)).size).toBe(12);
  });
});
