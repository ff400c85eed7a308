import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Browser, page, settle, type Answer } from "./fake-browser.js";

let browser: Browser;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: Date.UTC(2026, 10, 28, 14, 0, 0) });
  browser = new Browser();
});
afterEach(() => {
  vi.useRealTimers();
  // Math.random spies must not carry into later tests, whose result would then depend on which ran before.
  vi.restoreAllMocks();
});

const big = (i: number) => ({ path: `/${i}/` + "x".repeat(2000), search: "?" + "q".repeat(1000) });

/** An answer the test releases by hand, to hold a request in flight. */
function held(): { answer: () => Promise<Answer>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  return { answer: () => gate.then(() => "network-error" as const), release };
}

describe("page lifecycle", () => {
  it("beacons queued events when the page becomes hidden", async () => {
    const tab = browser.tab();
    const client = tab.open();
    client.track("page_viewed", page(1));
    client.track("page_viewed", page(2));
    tab.hide();
    expect(browser.requests.map((r) => [r.via, r.events.length])).toEqual([["beacon", 2]]);
    expect(browser.queued).toEqual([]);
  });

  it("without sendBeacon, hiding and then leaving sends each event once", async () => {
    const tab = browser.tab();
    delete tab.navigator.sendBeacon;
    const client = tab.open();
    client.track("page_viewed", page(1));
    await settle();
    tab.close(); // visibilitychange to hidden, then pagehide: both fall back to a keepalive fetch
    await settle();
    expect(browser.requests.map((r) => [r.via, r.events.length])).toEqual([["fetch", 1]]);
    expect(browser.received.map((e) => e.properties)).toEqual([page(1)]);
  });

  it("beacons on pagehide, including events tracked in the same task", () => {
    const tab = browser.tab();
    const client = tab.open();
    client.track("page_viewed", page(1));
    tab.window.dispatchEvent(new Event("pagehide"));
    expect(browser.requests.map((r) => r.via)).toEqual(["beacon"]);
    expect(browser.received.map((e) => e.properties)).toEqual([page(1)]);
  });

  it("does nothing when the page becomes visible again", async () => {
    const tab = browser.tab();
    const client = tab.open();
    client.track("page_viewed", page(1));
    await settle();
    tab.show();
    expect(browser.requests).toHaveLength(0);
  });

  it("splits beacons so that each body stays under 64 KiB", async () => {
    const tab = browser.tab();
    tab.beaconBudget = Infinity;
    const client = tab.open({ batchSize: 500, flushInterval: 60_000 });
    // Queued while offline (no regular send starts), then the connection is back as the page closes.
    tab.offline();
    for (let i = 0; i < 60; i++) client.track("page_viewed", big(i));
    await settle();
    tab.navigator.onLine = true;
    tab.close();
    expect(browser.requests.length).toBeGreaterThan(2);
    for (const r of browser.requests) {
      expect(r.via).toBe("beacon");
      expect(r.bytes).toBeLessThan(65_536);
    }
    expect(new Set(browser.received.map((e) => e.seq)).size).toBe(60);
  });

  it("keeps what the browser's 64 KiB unload budget cannot carry for the next page, sending nothing twice", async () => {
    const tab = browser.tab();
    const client = tab.open({ batchSize: 500, flushInterval: 60_000 });
    // Queued while offline (no regular send starts), then the connection is back as the page closes.
    tab.offline();
    for (let i = 0; i < 60; i++) client.track("page_viewed", big(i));
    await settle();
    tab.navigator.onLine = true;
    tab.close();
    const beaconed = browser.received.length;
    expect(beaconed).toBeGreaterThan(0);
    expect(beaconed).toBeLessThan(60);
    expect(browser.queued).toHaveLength(60 - beaconed);

    browser.tab().open({ flushInterval: 1000, batchSize: 500 });
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(browser.received.map((e) => e.seq).sort((a, b) => a - b)).toEqual([...Array(60).keys()]);
  });

  it("does not beacon while offline: the events stay stored", async () => {
    const tab = browser.tab();
    const client = tab.open();
    tab.offline();
    client.track("page_viewed", page(1));
    tab.close();
    expect(browser.requests).toHaveLength(0);
    expect(browser.queued).toHaveLength(1);
  });

  it("falls back to a keepalive fetch where sendBeacon is missing", async () => {
    const tab = browser.tab();
    delete tab.navigator.sendBeacon;
    const client = tab.open();
    client.track("page_viewed", page(1));
    tab.hide();
    await settle();
    expect(browser.requests.map((r) => [r.via, r.init?.keepalive])).toEqual([["fetch", true]]);
    expect(browser.queued).toEqual([]);
  });

  it("hands a batch in flight at pagehide to its keepalive request, so the next page does not resend it", async () => {
    const tab = browser.tab();
    const client = tab.open();
    const slow = held();
    browser.script.push(slow.answer);
    client.track("page_viewed", page(1));
    void client.flush();
    await settle();
    expect(browser.requests).toHaveLength(1);
    client.track("page_viewed", page(2));
    tab.close();
    expect(browser.requests.map((r) => [r.via, r.events.map((e) => e.seq)])).toEqual([
      ["fetch", [0]],
      ["beacon", [1]],
    ]);
    expect(browser.queued).toEqual([]);
    slow.release();
  });

  it("hands over at pagehide a batch whose fetch just failed, as a leaving page's keepalive fetch does", async () => {
    // Chromium rejects the fetch of a page that starts to leave, while the browser still delivers
    // its keepalive request: beaconing the batch again would send it twice.
    const tab = browser.tab();
    const client = tab.open();
    browser.script.push("network-error");
    client.track("page_viewed", page(1));
    await client.flush();
    client.track("page_viewed", page(2));
    tab.close();
    expect(browser.requests.map((r) => [r.via, r.events.map((e) => e.seq)])).toEqual([
      ["fetch", [0]],
      ["beacon", [1]],
    ]);
    expect(browser.queued).toEqual([]);
  });

  it("retries a batch whose fetch failed once the page is visible again, never beaconing it meanwhile", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const tab = browser.tab();
    const client = tab.open();
    browser.script.push("network-error");
    client.track("page_viewed", page(1));
    await client.flush();
    tab.hide();
    tab.show();
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(browser.requests.map((r) => [r.via, r.events.map((e) => e.seq)])).toEqual([
      ["fetch", [0]],
      ["fetch", [0]],
    ]);
    expect(browser.queued).toEqual([]);
  });

  it("keeps a batch in flight when the page is only hidden, and retries it if its send fails", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const tab = browser.tab();
    const client = tab.open();
    const slow = held();
    browser.script.push(slow.answer);
    client.track("page_viewed", page(1));
    void client.flush();
    await settle();
    tab.hide();
    expect(browser.requests).toHaveLength(1);
    slow.release();
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(browser.received.map((e) => e.seq)).toEqual([0, 0]);
    expect(browser.queued).toEqual([]);
  });

  it("shutdown() sends what is queued and stops tracking and listening", async () => {
    const tab = browser.tab();
    const client = tab.open();
    client.track("page_viewed", page(1));
    await client.shutdown();
    expect(browser.received).toHaveLength(1);
    expect(client.track("page_viewed", page(2))).toBeUndefined();
    tab.close();
    await settle();
    expect(browser.requests).toHaveLength(1);
  });
});

describe("two tabs of one origin", () => {
  it("never beacon an event that the other tab is sending", async () => {
    const a = browser.tab();
    const b = browser.tab();
    const cb = b.open({ batchSize: 100 });
    cb.track("page_viewed", page(1));
    await settle();
    const ca = a.open({ batchSize: 100 });
    // Tab A's regular flush takes the event B queued before A opened and holds it in flight...
    const slow = held();
    browser.script.push(slow.answer);
    void ca.flush();
    await settle();
    expect(browser.requests).toHaveLength(1);
    // ...so tab B, closing, must not beacon it again.
    cb.track("page_viewed", page(2));
    b.close();
    expect(browser.requests.map((r) => [r.via, r.events.map((e) => e.seq)])).toEqual([
      ["fetch", [0]],
      ["beacon", [1]],
    ]);
    slow.release();
    await vi.advanceTimersByTimeAsync(5000);
    await settle();
    const seqs = browser.received.map((e) => e.seq);
    // The network error makes A resend its batch (a retry, not a second tab sending it).
    expect(seqs).toEqual([0, 1, 0]);
  });

  it("take turns under the Web Lock so that concurrent flushes never send an event twice", async () => {
    const tabs = [browser.tab(), browser.tab(), browser.tab()];
    const clients = tabs.map((t) => t.open({ batchSize: 7, flushInterval: 300 }));
    for (let i = 0; i < 200; i++) {
      clients[i % 3]!.track("page_viewed", page(i));
      if (i % 5 == 0) void clients[(i + 1) % 3]!.flush();
      if (i % 11 == 0) await vi.advanceTimersByTimeAsync(100);
      await Promise.resolve();
    }
    tabs[2]!.close();
    await vi.advanceTimersByTimeAsync(5000);
    await settle();
    await Promise.all(clients.slice(0, 2).map((c) => c.flush()));
    const ids = browser.received.map((e) => e.event_id);
    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);
    expect(browser.queued).toEqual([]);
  });

  it("leave each other's fresh events alone: each tab sends its own, so no beacon races a send", async () => {
    const a = browser.tab();
    const b = browser.tab();
    const ca = a.open({ batchSize: 100 });
    const cb = b.open({ batchSize: 100 });
    cb.track("page_viewed", page(1));
    await settle();
    await ca.flush();
    expect(browser.requests).toHaveLength(0);
    await cb.flush();
    expect(browser.requests.map((r) => [r.tab == b, r.events.length])).toEqual([[true, 1]]);
  });

  it("do not both beacon the same events when both are hidden at once", async () => {
    const a = browser.tab();
    const b = browser.tab();
    const ca = a.open();
    const cb = b.open();
    ca.track("page_viewed", page(1));
    await Promise.resolve();
    cb.track("page_viewed", page(2));
    await Promise.resolve();
    a.close();
    b.close();
    expect(browser.requests.map((r) => r.events.map((e) => e.seq))).toEqual([[0], [1]]);
  });
});
