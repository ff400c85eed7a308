// page(), super-properties (register/unregister) and ids(): the calls beyond track().
import { beforeEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import type { CommonProperties, DriftlessClient } from "../../src/index.js";
import { Browser, page, settle } from "./fake-browser.js";
import { useFakeClock } from "./fake-clock.js";

useFakeClock();
let browser: Browser;
beforeEach(() => {
  browser = new Browser();
});

/**
 * The shipped schema has no property that every event type declares, so `register` accepts no
 * key at compile time (see the type tests below). These runtime tests register a key as a schema
 * that gives every event type an `app_version` would allow.
 */
const registerAny = (client: DriftlessClient, properties: Record<string, unknown>) => client.register(properties as never);

describe("page()", () => {
  it("tracks a page_viewed with path, search and title from the page", async () => {
    const tab = browser.tab("https://shop.test/products/42?color=red&size=44#reviews");
    tab.document.title = "Trail runner 42";
    const client = tab.open();
    const id = client.page();
    await client.flush();
    const [event] = browser.received;
    expect(event!.event_id).toBe(id);
    expect(event!.event_type).toBe("page_viewed");
    expect(event!.properties).toEqual({ path: "/products/42", search: "?color=red&size=44", title: "Trail runner 42" });
    // The context is filled in as for every event.
    expect(event!.context.page).toEqual({ url: "https://shop.test/products/42?color=red&size=44#reviews", referrer: "https://search.test/", title: "Trail runner 42" });
  });

  it("leaves out search and title when the page has none", async () => {
    const tab = browser.tab("https://shop.test/");
    tab.document.title = "";
    const client = tab.open();
    client.page();
    await client.flush();
    expect(browser.received[0]!.properties).toEqual({ path: "/" });
    expect(JSON.parse(browser.requests[0]!.body).events[0].properties).toEqual({ path: "/" });
  });

  it("takes properties that override what it read from the page", async () => {
    const client = browser.tab("https://shop.test/cart").open();
    client.page({ category: "cart", title: "Your cart" });
    await client.flush();
    expect(browser.received[0]!.properties).toEqual({ path: "/cart", title: "Your cart", category: "cart" });
  });

  it("cuts a path, query or title longer than the page_viewed schema allows", async () => {
    const tab = browser.tab(`https://shop.test/${"p".repeat(3000)}?${"q".repeat(3000)}`);
    tab.document.title = "t".repeat(2000);
    const client = tab.open();
    client.page();
    await client.flush();
    const properties = browser.received[0]!.properties as { path: string; search: string; title: string };
    expect([properties.path.length, properties.search.length, properties.title.length]).toEqual([2048, 2048, 512]);
  });

  it("does nothing when the user opted out, like track()", async () => {
    const client = browser.tab().open({ consent: "denied" });
    expect(client.page()).toBeUndefined();
    await client.flush();
    expect(browser.requests).toEqual([]);
  });
});

describe("super-properties", () => {
  it("go on every event after register(), and the event's own properties win", async () => {
    const client = browser.tab().open();
    client.track("page_viewed", page(0));
    registerAny(client, { app_version: "2.4.0", title: "registered" });
    client.track("page_viewed", page(1));
    client.track("page_viewed", { path: "/own", title: "own" });
    client.page();
    await client.flush();
    expect(browser.received.map((e) => e.properties)).toEqual([
      page(0),
      { app_version: "2.4.0", title: "registered", ...page(1) },
      { app_version: "2.4.0", path: "/own", title: "own" },
      { app_version: "2.4.0", path: "/p/42", title: "Shop" },
    ]);
  });

  it("a later register() adds to them and replaces keys it names again", async () => {
    const client = browser.tab().open();
    registerAny(client, { app_version: "1", plan: "free" });
    registerAny(client, { plan: "pro" });
    client.track("page_viewed", page(1));
    await client.flush();
    expect(browser.received[0]!.properties).toEqual({ app_version: "1", plan: "pro", ...page(1) });
  });

  it("unregister() removes them by name; reset() removes them all", async () => {
    const client = browser.tab().open();
    registerAny(client, { app_version: "1", plan: "pro", tenant: "t-1" });
    client.unregister(...(["plan", "tenant"] as never[]));
    client.track("page_viewed", page(1));
    client.reset();
    client.track("page_viewed", page(2));
    await client.flush();
    expect(browser.received.map((e) => e.properties)).toEqual([{ app_version: "1", ...page(1) }, page(2)]);
  });

  it("are taken when the event is tracked: changing them later leaves queued events alone", async () => {
    const client = browser.tab().open({ flushInterval: 60_000 });
    registerAny(client, { app_version: "1" });
    client.track("page_viewed", page(1));
    registerAny(client, { app_version: "2" });
    await settle();
    await client.flush();
    expect(browser.received[0]!.properties).toEqual({ app_version: "1", ...page(1) });
  });

  it("are typed as the properties every event type declares, with a type each of them accepts", () => {
    type Shop =
      | { app_version: string; kind: "a" | "b"; only_here: number; beta?: boolean }
      | { app_version: string; kind: string; elsewhere: string; beta?: boolean };
    expectTypeOf<CommonProperties<Shop>>().toEqualTypeOf<{ app_version?: string; kind?: "a" | "b"; beta?: boolean }>();
    expectTypeOf<keyof CommonProperties<{ a: string } | { b: string }>>().toEqualTypeOf<never>();
    // The shipped schema: its five event types share no property.
    expectTypeOf<keyof CommonProperties>().toEqualTypeOf<never>();
    const client = browser.tab().open();
    client.register({});
    // @ts-expect-error no event type but product_viewed and cart_item_added declares product_id
    client.register({ product_id: "42" });
    // @ts-expect-error not a property of any event type
    client.register({ app_version: "1" });
    // @ts-expect-error not a common property
    client.unregister("currency");
  });
});

describe("ids()", () => {
  it("gives the ids the next event carries", async () => {
    const client = browser.tab().open();
    const before = client.ids();
    client.identify("user-7");
    client.track("page_viewed", page(1));
    await client.flush();
    const [event] = browser.received;
    expect(before).toEqual({ anonymous_id: event!.anonymous_id, session_id: event!.session_id, user_id: null });
    expect(client.ids()).toEqual({ anonymous_id: event!.anonymous_id, session_id: event!.session_id, user_id: "user-7" });
  });

  it("is the same in every tab of the browser, and new after reset()", async () => {
    const a = browser.tab().open();
    const first = a.ids();
    await settle();
    const b = browser.tab().open();
    expect(b.ids()).toEqual(first);
    b.reset();
    await settle();
    expect(b.ids()!.anonymous_id).not.toBe(first!.anonymous_id);
  });

  it("starts a new session after 30 idle minutes, and the next event carries it", async () => {
    const client = browser.tab().open();
    client.track("page_viewed", page(1));
    const before = client.ids()!;
    vi.setSystemTime(Date.now() + 31 * 60_000);
    const after = client.ids()!;
    expect(after.session_id).not.toBe(before.session_id);
    expect(after.anonymous_id).toBe(before.anonymous_id);
    client.track("page_viewed", page(2));
    await client.flush();
    expect(browser.received.map((e) => e.session_id)).toEqual([before.session_id, after.session_id]);
  });

  it("is undefined when nothing is tracked", () => {
    expect(browser.tab().open({ consent: "denied" }).ids()).toBeUndefined();
  });
});
