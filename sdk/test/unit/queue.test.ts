import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Drop } from "../../src/index.js";
import { Browser, FakeStorage, page, settle } from "./fake-browser.js";

let browser: Browser;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: Date.UTC(2026, 10, 28, 14, 0, 0) });
  browser = new Browser();
});
afterEach(() => vi.useRealTimers());

describe("persistent queue", () => {
  it("stores each event by the end of the task that tracked it", async () => {
    const client = browser.tab().open();
    const id = client.track("page_viewed", page(1));
    await Promise.resolve();
    expect(browser.queued).toEqual([`driftless.e.${id}`]);
    expect(JSON.parse(browser.storage.getItem(`driftless.e.${id}`)!)).toMatchObject({ event_id: id, properties: page(1) });
  });

  it("survives a reload while offline and is delivered, unchanged, by the next page", async () => {
    const first = browser.tab();
    const client = first.open();
    first.offline();
    const ids = [client.track("page_viewed", page(1)), client.track("page_viewed", page(2))];
    await settle();
    first.close();
    expect(browser.requests).toHaveLength(0);

    const second = browser.tab();
    second.open({ flushInterval: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(browser.received.map((e) => e.event_id)).toEqual(ids);
    expect(browser.queued).toEqual([]);
  });

  it("caps the queue by dropping the oldest events, reported with onDrop and a count", async () => {
    const drops: Drop[] = [];
    const tab = browser.tab();
    const client = tab.open({ maxQueue: 5, onDrop: (d) => drops.push(d) });
    tab.offline();
    for (let i = 0; i < 8; i++) client.track("page_viewed", page(i));
    await settle();
    expect(drops).toHaveLength(1);
    expect(drops[0]!.reason).toBe("queue_full");
    expect(drops[0]!.count).toBe(3);
    expect(drops[0]!.events.map((e) => e.seq)).toEqual([0, 1, 2]);
    expect(browser.queued).toHaveLength(5);
    client.track("page_viewed", page(8));
    await settle();
    expect(drops[1]!.events.map((e) => e.seq)).toEqual([3]);
    tab.online();
    await settle();
    expect(browser.received.map((e) => e.seq)).toEqual([4, 5, 6, 7, 8]);
  });

  it("reports events the browser refuses to store as queue_full instead of throwing", async () => {
    const drops: Drop[] = [];
    browser.storage = new Proxy(new FakeStorage(), {
      set(target, key: string, value: string) {
        if (key.startsWith("driftless.e.") && Object.keys(target).length >= 3) throw new DOMException("full", "QuotaExceededError");
        target[key] = value;
        return true;
      },
    });
    const tab = browser.tab();
    tab.offline();
    const client = tab.open({ onDrop: (d) => drops.push(d) });
    for (let i = 0; i < 4; i++) expect(() => client.track("page_viewed", page(i))).not.toThrow();
    await settle();
    expect(drops.map((d) => [d.reason, d.events[0]!.seq])).toEqual([
      ["queue_full", 2],
      ["queue_full", 3],
    ]);
  });

  it("drops, as too_large, an event that no request could carry, instead of letting it block the queue", async () => {
    const drops: Drop[] = [];
    const client = browser.tab().open({ maxBytes: 2000, onDrop: (d) => drops.push(d) });
    client.track("page_viewed", { path: "/" + "x".repeat(2000) });
    client.track("page_viewed", page(2));
    await client.flush();
    expect(drops.map((d) => [d.reason, d.count, d.events[0]!.seq])).toEqual([["too_large", 1, 0]]);
    expect(browser.received.map((e) => e.seq)).toEqual([1]);
  });

  it("keeps events in memory and still sends them when localStorage is blocked", async () => {
    browser.storageBlocked = true;
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    await client.flush();
    expect(browser.received).toHaveLength(1);
  });

  it("leaves the site's own localStorage keys alone", async () => {
    browser.storage["cart"] = "[1,2]";
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    await client.flush();
    client.setConsent(false);
    expect(browser.storage["cart"]).toBe("[1,2]");
  });
});
