// The SDK in headless Chromium against the real ingest handler of the local stack, checked by
// reading back what landed in the lake's raw objects (moto's S3).
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { anonymousId, launchChromium, openPage } from "./support/chromium.js";
import { ENDPOINT } from "./support/env.js";
import { waitForEvents } from "./support/lake.js";
import { startSite, type Site } from "./support/site.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

interface SeenRequest {
  type: string;
  bytes: number;
  eventIds: string[];
  sentAt: string;
}

/** A send the test page logged (support/site.ts). */
interface PageSend {
  /** answer: a fetch's outcome; pagehide: the page noting that its pagehide handlers ran */
  via: "beacon" | "fetch" | "answer" | "pagehide";
  /** sendBeacon's result; the HTTP status for an answer (0: network error); null otherwise */
  ok: boolean | number | null;
  tab: string;
  t: number;
  onLine: boolean;
  bytes: number;
  ids: string[];
  paths: string[];
}

let browser: Browser;
let site: Site;
let context: BrowserContext;
let since: number;

beforeAll(async () => {
  site = await startSite();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
});
afterEach(async () => {
  await context?.close();
});

/** A fresh browser profile (its own localStorage, so its own anonymous id) that logs every request to the endpoint. */
async function newContext(): Promise<{ requests: SeenRequest[] }> {
  since = Date.now();
  context = await browser.newContext();
  const requests: SeenRequest[] = [];
  context.on("request", (req) => {
    if (req.url() != ENDPOINT || req.method() != "POST") return;
    const body = req.postData() ?? "";
    const batch = JSON.parse(body) as { sent_at: string; events: { event_id: string }[] };
    requests.push({ type: req.resourceType(), bytes: Buffer.byteLength(body), eventIds: batch.events.map((e) => e.event_id), sentAt: batch.sent_at });
  });
  return { requests };
}

/**
 * The sends (beacons and fetches to the endpoint) the test pages of the site logged. A request
 * sent while its page unloads never shows up as a Playwright request, so the page logs it
 * (support/site.ts) and a fresh page of the same origin reads the log.
 */
async function pageSends(): Promise<PageSend[]> {
  const page = await context.newPage();
  await page.goto(`${site.origin}/blank`);
  const log = await page.evaluate(() =>
    Object.keys(localStorage)
      .filter((k) => k.startsWith("e2e.sent."))
      .map((k) => JSON.parse(localStorage.getItem(k)!) as PageSend),
  );
  await page.close();
  return log.sort((a, b) => a.t - b.t);
}

const idsOf = (events: { event_id: string }[]) => events.map((e) => e.event_id).sort();

describe("browser SDK against the local stack", () => {
  it("delivers tracked events to the events stream with every envelope field", async () => {
    await newContext();
    const page = await openPage(context, site.page(ENDPOINT));
    const ids = await page.evaluate(() => [
      window.dl.track("page_viewed", { path: "/e2e/home", category: "home" }),
      window.dl.track("product_viewed", { product_id: "sku-42", price: 89.9, currency: "EUR", in_stock: true }),
      window.dl.track("checkout_completed", {
        order_id: "o-1",
        total: 179.8,
        currency: "EUR",
        items: [{ product_id: "sku-42", quantity: 2, price: 89.9 }],
        shipping_method: "express",
      }),
    ]);
    await page.evaluate(() => window.dl.identify("user-e2e"));
    ids.push(await page.evaluate(() => window.dl.track("signed_up", { method: "github", plan: "pro" })));
    await page.evaluate(() => window.dl.flush());
    const anon = await anonymousId(page);

    const stored = await waitForEvents(anon, 4, since);
    expect(idsOf(stored)).toEqual([...ids].sort());
    expect(await page.evaluate(() => window.drops)).toEqual([]);
    const bySeq = [...stored].sort((a, b) => a.seq - b.seq);
    expect(bySeq.map((e) => [e.event_type, e.seq, e.user_id])).toEqual([
      ["page_viewed", 0, null],
      ["product_viewed", 1, null],
      ["checkout_completed", 2, null],
      ["signed_up", 3, "user-e2e"],
    ]);
    for (const e of stored) {
      expect(e.event_id).toMatch(UUID_V7);
      expect(e.schema_version).toBe("1-0-0");
      expect(e.anonymous_id).toMatch(UUID_V7);
      expect(e.session_id).toBe(stored[0]!.session_id);
      for (const t of [e.timestamp, e.client_timestamp, e.sent_at, e.received_at]) expect(t).toMatch(RFC3339_MS);
      expect(Math.abs(Date.parse(e.received_at) - Date.now())).toBeLessThan(120_000);
      expect(e.user_agent).toContain("Chrome");
      expect(e.context).toEqual({
        page: { url: site.page(ENDPOINT), referrer: "", title: "Driftless e2e" },
        locale: expect.any(String),
        timezone: expect.any(String),
        screen: { width: expect.any(Number), height: expect.any(Number) },
        sdk: { name: "driftless-js", version: "0.1.0" },
      });
    }
    expect(bySeq[2]!.properties).toEqual({
      order_id: "o-1",
      total: 179.8,
      currency: "EUR",
      items: [{ product_id: "sku-42", quantity: 2, price: 89.9 }],
      shipping_method: "express",
    });
  });

  it("delivers an event tracked right before navigating to another origin, by beacon", async () => {
    const { requests } = await newContext();
    const page = await openPage(context, site.page(ENDPOINT, { flushInterval: 60_000 }));
    const leaving = await page.evaluate(async (elsewhere) => {
      const id = window.dl.track("page_viewed", { path: "/e2e/leaving" })!;
      await Promise.resolve();
      const anon = (JSON.parse(localStorage.getItem("driftless.id")!) as { a: string }).a;
      location.href = elsewhere;
      return { id, anon };
    }, `${site.otherOrigin}/blank`);
    await page.waitForURL(`${site.otherOrigin}/blank`);

    const stored = await waitForEvents(leaving.anon, 1, since);
    expect(idsOf(stored)).toEqual([leaving.id]);
    expect((await pageSends()).filter((s) => s.via != "answer").map((s) => [s.via, s.ok, s.ids])).toEqual([
      ["pagehide", null, []],
      ["beacon", true, [leaving.id]],
    ]);
    expect(requests.filter((r) => r.type != "ping")).toEqual([]);
  });

  it("rides out two 503 answers: every event arrives once, none is lost", async () => {
    const { requests } = await newContext();
    let answered = 0;
    await context.route(ENDPOINT, async (route) => {
      if (route.request().method() == "POST" && answered++ < 2) {
        return route.fulfill({
          status: 503,
          headers: {
            "content-type": "application/json",
            "retry-after": "1",
            "access-control-allow-origin": "*",
            "access-control-expose-headers": "Retry-After",
          },
          body: JSON.stringify({ error: { code: "unavailable", message: "Delivery stream busy, retry later." } }),
        });
      }
      return route.continue();
    });
    const page = await openPage(context, site.page(ENDPOINT, { flushInterval: 60_000 }));
    const ids = await page.evaluate(() => [0, 1, 2, 3, 4].map((i) => window.dl.track("page_viewed", { path: `/e2e/retry/${i}` })!));
    await page.evaluate(() => window.dl.flush());
    const anon = await anonymousId(page);

    const stored = await waitForEvents(anon, 5, since);
    expect(idsOf(stored)).toEqual([...ids].sort());
    expect(stored.map((e) => e.seq).sort()).toEqual([0, 1, 2, 3, 4]);
    // Two refused sends, then the same batch again; Retry-After spaced them by a second.
    expect(requests.map((r) => r.eventIds.sort())).toEqual([1, 2, 3].map(() => [...ids].sort()));
    const sentAt = requests.map((r) => Date.parse(r.sentAt));
    expect(sentAt[1]! - sentAt[0]!).toBeGreaterThanOrEqual(1000);
    expect(sentAt[2]! - sentAt[1]!).toBeGreaterThanOrEqual(1000);
    expect(await page.evaluate(() => window.drops)).toEqual([]);
  });

  it("keeps events tracked offline through a reload and delivers them once back online", async () => {
    await newContext();
    const url = site.page(ENDPOINT, { flushInterval: 500 });
    const page = await openPage(context, url);
    await context.setOffline(true);
    const ids = await page.evaluate(() => [0, 1, 2].map((i) => window.dl.track("page_viewed", { path: `/e2e/offline/${i}` })!));
    const anon = await anonymousId(page);
    await page.evaluate(() => window.dl.flush());
    expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("driftless.e.")).length)).toBe(3);

    // The page unloads while offline (about:blank needs no network; a page reloaded offline
    // would only show an error): its pagehide handlers run, send nothing, and the events stay
    // stored for the next load of the site.
    await page.goto("about:blank");
    await context.setOffline(false);
    const log = await pageSends();
    expect(log.filter((l) => l.via == "pagehide")).toHaveLength(1);
    expect(log.filter((l) => l.via != "pagehide")).toEqual([]);
    expect(await waitForEvents(anon, 1, since, 0, 0)).toEqual([]);

    await page.goto(url);
    await page.waitForFunction(() => window.ready === true);
    const reloaded = page;
    const stored = await waitForEvents(anon, 3, since);
    expect(idsOf(stored)).toEqual([...ids].sort());

    // Without a reload: the `online` event sends what was queued offline.
    await context.setOffline(true);
    const later = await reloaded.evaluate(() => [window.dl.track("page_viewed", { path: "/e2e/offline/again" })!]);
    await reloaded.evaluate(() => window.dl.flush());
    expect(await waitForEvents(anon, 4, since, 0, 0)).toHaveLength(3);
    await context.setOffline(false);
    const all = await waitForEvents(anon, 4, since);
    expect(idsOf(all)).toEqual([...ids, ...later].sort());
  });

  it("sends nothing at all when the user opted out", async () => {
    const { requests } = await newContext();
    const denied = await openPage(context, site.page(ENDPOINT, { consent: "denied", flushInterval: 100 }));
    await denied.evaluate(() => {
      for (let i = 0; i < 5; i++) window.dl.track("page_viewed", { path: `/e2e/denied/${i}` });
      return window.dl.flush();
    });
    const withdrawn = await openPage(context, site.page(ENDPOINT, { consent: "granted", flushInterval: 100 }));
    await withdrawn.evaluate(() => {
      window.dl.track("page_viewed", { path: "/e2e/before-opt-out" });
      window.dl.setConsent(false);
      for (let i = 0; i < 5; i++) window.dl.track("page_viewed", { path: `/e2e/withdrawn/${i}` });
      return window.dl.flush();
    });
    await denied.waitForTimeout(1000);
    for (const page of [denied, withdrawn]) {
      expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("driftless.") && k != "driftless.c"))).toEqual([]);
      await page.goto(`${site.otherOrigin}/blank`);
    }
    await denied.waitForTimeout(500);
    expect(requests).toEqual([]);
  });

  it("splits a batch over 64 KiB into requests under 64 KiB and delivers all of it", async () => {
    const { requests } = await newContext();
    const page = await openPage(context, site.page(ENDPOINT, { batchSize: 100, flushInterval: 60_000 }));
    const ids = await page.evaluate(() =>
      Array.from({ length: 30 }, (_, i) =>
        window.dl.track("page_viewed", { path: `/e2e/big/${i}/` + "x".repeat(2000), search: "?" + "q".repeat(2000), title: "t".repeat(500) })!,
      ),
    );
    await page.evaluate(() => window.dl.flush());
    const anon = await anonymousId(page);

    const stored = await waitForEvents(anon, 30, since);
    expect(idsOf(stored)).toEqual([...ids].sort());
    const total = requests.reduce((n, r) => n + r.bytes, 0);
    expect(total).toBeGreaterThan(2 * 65_536);
    expect(requests.length).toBeGreaterThanOrEqual(3);
    for (const r of requests) expect(r.bytes).toBeLessThan(65_536);
    expect(requests.flatMap((r) => r.eventIds).sort()).toEqual([...ids].sort());
  });

  it("never sends one event twice from two tabs of the same site", async () => {
    const { requests } = await newContext();
    const url = site.page(ENDPOINT, { batchSize: 4, flushInterval: 150 });
    // The browser's identity exists before the second tab opens. (Two tabs that track the very
    // first event of a new browser within the same millisecond or two would each make one.)
    const first = await openPage(context, url);
    await first.evaluate(() => window.dl.track("page_viewed", { path: "/e2e/first" }));
    const anon = await anonymousId(first);
    const tabs = [first, await openPage(context, url)];
    // Both tabs track and flush at random moments, so their sends overlap.
    await Promise.all(
      tabs.map((tab, t) =>
        tab.evaluate(async (t) => {
          for (let i = 0; i < 30; i++) {
            window.dl.track("page_viewed", { path: `/e2e/tab${t}/${i}` });
            if (i % 3 == 0) void window.dl.flush();
            await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
          }
        }, t),
      ),
    );
    // The second tab leaves right after tracking more, while the first may be sending: its
    // pagehide beacon must leave out what the first tab has in flight.
    await tabs[1]!.evaluate(() => {
      for (let i = 0; i < 5; i++) window.dl.track("page_viewed", { path: `/e2e/tab1/last/${i}` });
    });
    await tabs[1]!.goto(`${site.otherOrigin}/blank`);
    await tabs[0]!.evaluate(() => window.dl.flush());

    // Ingest stores every event it receives (the lake deduplicates later), so an event sent
    // twice would be stored twice here.
    const stored = await waitForEvents(anon, 66, since);
    // On failure, what each page sent and when, to tell a retry from a second sender.
    if (stored.length != 66) console.log(JSON.stringify({ sends: await pageSends(), stored: stored.map((e) => [e.event_id, e.received_at]) }));
    expect(stored.length).toBe(66);
    expect(new Set(idsOf(stored)).size).toBe(66);
    // Two tabs tracking within the same millisecond or two can draw the same seq (localStorage
    // reaches the other tab's process a moment later), but never leave a gap that looks like loss.
    const seqs = [...new Set(stored.map((e) => e.seq))].sort((a, b) => a - b);
    expect(seqs).toEqual([...seqs.keys()]);
    // What the pages sent (Playwright misses requests of unloading pages, the pages log them):
    // an event goes out again only as a retry of its own failed send, never from the other tab.
    const log = await pageSends();
    const sends = log.filter((s) => s.via == "fetch" || s.via == "beacon");
    expect(sends.flatMap((s) => s.ids).length).toBeGreaterThan(50);
    const failed = new Set(log.filter((s) => s.via == "answer" && s.ok != 200).flatMap((s) => s.ids));
    const count = new Map<string, number>();
    for (const id of sends.flatMap((s) => s.ids)) count.set(id, (count.get(id) ?? 0) + 1);
    const resentWithoutFailure = [...count].filter(([id, n]) => n > 1 && !failed.has(id));
    expect(resentWithoutFailure).toEqual([]);
  });
});
