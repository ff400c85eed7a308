import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SESSION_IDLE_MS } from "../../src/identity.js";
import { Browser, page, settle } from "./fake-browser.js";

let browser: Browser;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: Date.UTC(2026, 10, 28, 14, 0, 0) });
  browser = new Browser();
});
afterEach(() => vi.useRealTimers());

async function trackAndSend(browserTab = browser.tab(), n = 1) {
  const client = browserTab.open();
  for (let i = 0; i < n; i++) client.track("page_viewed", page(i));
  await client.flush();
  return client;
}

describe("identity", () => {
  it("keeps anonymous_id and continues seq across reloads", async () => {
    await trackAndSend(browser.tab(), 3);
    await trackAndSend(browser.tab(), 2);
    const events = browser.received;
    expect(events.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(events.map((e) => e.anonymous_id)).size).toBe(1);
  });

  it("gives two tabs one gap-free seq sequence", async () => {
    const a = browser.tab().open();
    const b = browser.tab().open();
    for (let i = 0; i < 6; i++) {
      (i % 2 ? a : b).track("page_viewed", page(i));
      await Promise.resolve();
    }
    await a.flush();
    await b.flush();
    expect(browser.received.map((e) => e.seq).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("keeps the session through activity and rotates it after 30 minutes idle", async () => {
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    await settle();
    vi.advanceTimersByTime(SESSION_IDLE_MS - 1000);
    client.track("page_viewed", page(2));
    await settle();
    vi.advanceTimersByTime(SESSION_IDLE_MS - 1000);
    client.track("page_viewed", page(3));
    await settle();
    vi.advanceTimersByTime(SESSION_IDLE_MS + 1);
    client.track("page_viewed", page(4));
    await client.flush();
    const sessions = browser.received.map((e) => e.session_id);
    expect(sessions[0]).toBe(sessions[1]);
    expect(sessions[1]).toBe(sessions[2]);
    expect(sessions[3]).not.toBe(sessions[2]);
    expect(browser.received.map((e) => e.seq)).toEqual([0, 1, 2, 3]);
  });

  it("rotates an idle session also when the next event comes from a reloaded page", async () => {
    await trackAndSend();
    vi.advanceTimersByTime(SESSION_IDLE_MS + 1);
    await trackAndSend();
    const [a, b] = browser.received;
    expect(b!.session_id).not.toBe(a!.session_id);
    expect(b!.anonymous_id).toBe(a!.anonymous_id);
  });

  it("puts the identified user_id on later events, in every tab", async () => {
    const a = browser.tab().open();
    a.track("page_viewed", page(1));
    a.identify("user-7");
    a.track("page_viewed", page(2));
    await a.flush();
    const b = browser.tab().open();
    b.track("page_viewed", page(3));
    await b.flush();
    expect(browser.received.map((e) => e.user_id)).toEqual([null, "user-7", "user-7"]);
  });

  it("reset() starts a new anonymous_id with seq 0, a new session and no user_id, and still sends queued events", async () => {
    const client = browser.tab().open();
    client.identify("user-7");
    client.track("page_viewed", page(1));
    client.track("page_viewed", page(2));
    await settle();
    client.reset();
    client.track("page_viewed", page(3));
    await client.flush();
    const [first, , after] = browser.received;
    expect(browser.received).toHaveLength(3);
    expect(after).toMatchObject({ seq: 0, user_id: null });
    expect(after!.anonymous_id).not.toBe(first!.anonymous_id);
    expect(after!.session_id).not.toBe(first!.session_id);
  });

  it("replaces a corrupt stored identity instead of failing every track()", async () => {
    browser.storage["driftless.id"] = "{not json";
    const client = browser.tab().open();
    expect(client.track("page_viewed", page(1))).toBeTypeOf("string");
    await client.flush();
    expect(browser.received[0]!.seq).toBe(0);
  });
});
