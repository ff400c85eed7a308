import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Drop } from "../../src/index.js";
import { Browser, page, settle } from "./fake-browser.js";

let browser: Browser;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: Date.UTC(2026, 10, 28, 14, 0, 0) });
  browser = new Browser();
});
afterEach(() => vi.useRealTimers());

const driftlessKeys = () => Object.keys(browser.storage).filter((k) => k.startsWith("driftless."));

describe("consent", () => {
  it("denied by default: nothing is queued, stored or sent", async () => {
    const tab = browser.tab();
    const client = tab.open({ consent: "denied" });
    expect(client.track("page_viewed", page(1))).toBeUndefined();
    client.identify("user-7");
    await client.flush();
    await vi.advanceTimersByTimeAsync(60_000);
    tab.close();
    await settle();
    expect(browser.requests).toEqual([]);
    expect(driftlessKeys()).toEqual([]);
  });

  it("opting out clears the queue and the identifiers and reports the dropped events", async () => {
    const drops: Drop[] = [];
    const tab = browser.tab();
    const client = tab.open({ onDrop: (d) => drops.push(d) });
    tab.offline();
    for (let i = 0; i < 3; i++) client.track("page_viewed", page(i));
    await settle();
    expect(driftlessKeys()).toHaveLength(4);
    client.setConsent(false);
    expect(drops.map((d) => [d.reason, d.count])).toEqual([["opted_out", 3]]);
    expect(driftlessKeys()).toEqual(["driftless.c"]);
    tab.online();
    client.track("page_viewed", page(4));
    tab.close();
    await settle();
    expect(browser.requests).toEqual([]);
  });

  it("opting out drops events tracked earlier in the same task", async () => {
    const drops: Drop[] = [];
    const client = browser.tab().open({ onDrop: (d) => drops.push(d) });
    client.track("page_viewed", page(1));
    client.setConsent(false);
    await settle();
    expect(drops.map((d) => d.count)).toEqual([1]);
    expect(driftlessKeys()).toEqual(["driftless.c"]);
  });

  it("remembers the decision across reloads, over the configured default", async () => {
    browser.tab().open().setConsent(false);
    expect(browser.tab().open({ consent: "granted" }).track("page_viewed", page(1))).toBeUndefined();
    browser.tab().open().setConsent(true);
    const client = browser.tab().open({ consent: "pending" });
    client.track("page_viewed", page(2));
    await client.flush();
    expect(browser.received.map((e) => e.properties)).toEqual([page(2)]);
  });

  it("hold until consent keeps events in memory only: nothing stored, nothing sent", async () => {
    const tab = browser.tab();
    const client = tab.open({ consent: "pending", batchSize: 2 });
    for (let i = 0; i < 3; i++) expect(client.track("page_viewed", page(i))).toBeTypeOf("string");
    await client.flush();
    await vi.advanceTimersByTimeAsync(60_000);
    tab.hide();
    await settle();
    expect(browser.requests).toEqual([]);
    expect(driftlessKeys()).toEqual([]);
  });

  it("granting consent stores and sends the held events", async () => {
    const client = browser.tab().open({ consent: "pending" });
    const ids = [0, 1, 2].map((i) => client.track("page_viewed", page(i)));
    await settle();
    client.setConsent(true);
    await settle();
    expect(browser.received.map((e) => [e.event_id, e.seq])).toEqual(ids.map((id, i) => [id, i]));
    expect(driftlessKeys().sort()).toEqual(["driftless.c", "driftless.id"]);
  });

  it("denying consent in hold mode drops the held events unsent", async () => {
    const drops: Drop[] = [];
    const client = browser.tab().open({ consent: "pending", onDrop: (d) => drops.push(d) });
    client.track("page_viewed", page(1));
    client.track("page_viewed", page(2));
    await settle();
    client.setConsent(false);
    await client.flush();
    expect(drops.map((d) => [d.reason, d.count])).toEqual([["opted_out", 2]]);
    expect(browser.requests).toEqual([]);
  });

  it("a default of denied clears what an earlier page stored", async () => {
    const tab = browser.tab();
    tab.offline();
    const client = tab.open();
    client.track("page_viewed", page(1));
    await settle();
    browser.tab().open({ consent: "denied" });
    expect(driftlessKeys()).toEqual([]);
  });
});
