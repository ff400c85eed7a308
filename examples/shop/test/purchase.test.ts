// A purchase in the example shop, clicked through in headless Chromium against the local stack:
// the page's events (browser SDK) and the order (Node.js client in the shop's server) land in the
// lake exactly once each, as one visitor's journey.
import type { Browser } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../../../sdk/test/e2e/support/chromium.js";
import { E2E_KEY, ENDPOINT, LOCAL_STACK_CLIENT } from "../../../sdk/test/e2e/support/env.js";
import { compactSince, lakeSql, sql } from "../../../sdk/test/e2e/support/lake-sql.js";
import type { ServerDrop } from "@driftless/sdk/server";
import { startShop, type Shop } from "../server/shop-server.js";

interface Row {
  event_id: string;
  event_type: string;
  copies: number;
  user_id: string | null;
  session_id: string;
  sdk_name: string;
  page_url: string | null;
  properties: string;
}

// The local stack's client settings, and its source keys: the page's (the browser tests' key, since
// the shop listens on a free port here) and the server client's.
const { key: serverKey, ...client } = LOCAL_STACK_CLIENT;
const STACK_SHOP = { ...client, browserKey: E2E_KEY, serverKey };

let shop: Shop;
let browser: Browser;
const drops: ServerDrop[] = [];

beforeAll(async () => {
  await build({ root: import.meta.dirname + "/..", logLevel: "warn" });
  shop = await startShop({ endpoint: ENDPOINT, port: 0, ...STACK_SHOP, onDrop: (d) => drops.push(d) });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await shop?.close();
});

/** The visitor's events once `count` are committed (compacting what arrived on each look), or what is there at the deadline. */
async function journey(anonymousId: string, count: number, since: number): Promise<Row[]> {
  const query = `SELECT event_id, any_value(event_type) AS event_type, count(*) AS copies, any_value(user_id) AS user_id,
      any_value(session_id) AS session_id, any_value(sdk_name) AS sdk_name, any_value(page_url) AS page_url, any_value(properties) AS properties
    FROM events WHERE anonymous_id = ${sql(anonymousId)} GROUP BY event_id ORDER BY min(timestamp), event_id`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    await compactSince(since);
    const rows = await lakeSql<Row>(query);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe("example shop", () => {
  it("a purchase clicked through in Chromium lands in the lake, each event exactly once", async () => {
    const since = Date.now();
    const context = await browser.newContext({ locale: "de-DE" });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => m.type() == "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(String(e)));

    await page.goto(shop.url + "/");
    await page.getByTestId("product-trail-runner").click();
    await page.getByTestId("quantity").selectOption("2");
    await page.getByTestId("add-to-cart").click();
    await page.getByTestId("go-to-cart").click();
    await page.getByTestId("checkout").click();
    await page.getByTestId("email").fill("ada@example.com");
    await page.getByTestId("shipping-express").check();
    await page.getByTestId("coupon").fill("WELCOME10");
    await page.getByTestId("create-account").check();
    const [request, response] = await Promise.all([
      page.waitForRequest("**/api/checkout"),
      page.waitForResponse("**/api/checkout"),
      page.getByTestId("place-order").click(),
    ]);
    const order = (await response.json()) as { order_id: string; total: number; customer_id: string };
    expect(response.status()).toBe(201);
    await expect.poll(() => page.getByTestId("order-id").textContent()).toBe(order.order_id);
    const ids = (request.postDataJSON() as { ids: { anonymous_id: string; session_id: string } }).ids;

    // Leaving the page hands its queued events to a beacon; closing the shop delivers the order.
    await page.goto("about:blank");
    await context.close();
    await shop.close();
    expect(errors).toEqual([]);
    expect(drops).toEqual([]);

    const rows = await journey(ids.anonymous_id, 9, since);
    const seen = rows.map((r) => {
      const p = JSON.parse(r.properties) as Record<string, unknown>;
      return [r.event_type, p["path"] ?? p["product_id"] ?? p["order_id"] ?? p["method"]];
    });
    expect(seen.sort()).toEqual(
      [
        ["page_viewed", "/"],
        ["page_viewed", "/products/trail-runner"],
        ["product_viewed", "trail-runner"],
        ["cart_item_added", "trail-runner"],
        ["page_viewed", "/cart"],
        ["page_viewed", "/checkout"],
        ["checkout_completed", order.order_id],
        ["signed_up", "email"],
        ["page_viewed", "/checkout/complete"],
      ].sort(),
    );
    expect(rows.map((r) => r.copies)).toEqual(rows.map(() => 1));
    // One journey: the server tracked the order in the browser's session.
    expect(new Set(rows.map((r) => r.session_id))).toEqual(new Set([ids.session_id]));
    const byType = (t: string) => rows.filter((r) => r.event_type == t);
    const completed = byType("checkout_completed")[0]!;
    expect(completed.sdk_name).toBe("driftless-node");
    expect(completed.user_id).toBe(order.customer_id);
    expect(JSON.parse(completed.properties)).toEqual({
      order_id: order.order_id,
      total: 245.1,
      currency: "EUR",
      items: [{ product_id: "trail-runner", quantity: 2, price: 129 }],
      shipping_method: "express",
      coupon: "WELCOME10",
    });
    expect(order.total).toBe(245.1);
    expect(JSON.parse(byType("cart_item_added")[0]!.properties)).toMatchObject({ product_id: "trail-runner", quantity: 2, price: 129, currency: "EUR" });
    expect(byType("signed_up")[0]!.user_id).toBe(order.customer_id);
    expect(rows.filter((r) => r.event_type != "checkout_completed").every((r) => r.sdk_name == "driftless-js")).toBe(true);
    expect(byType("page_viewed").map((r) => JSON.parse(r.properties).category).sort()).toEqual(["cart", "checkout", "checkout", "listing", "product"]);
  });
});

describe("checkout endpoint", () => {
  it("refuses a bad order with what to fix, and tracks nothing", async () => {
    const local = await startShop({ endpoint: ENDPOINT, port: 0, ...STACK_SHOP });
    const post = async (body: unknown) => {
      const res = await fetch(`${local.url}/api/checkout`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return [res.status, ((await res.json()) as { error: { message: string } }).error.message];
    };
    const order = { cart_id: "c", items: [{ product_id: "trail-runner", quantity: 1 }], shipping_method: "standard", email: "a@b.c", create_account: false };
    expect(await post({ ...order, items: [] })).toEqual([400, "items must list 1 to 50 products"]);
    expect(await post({ ...order, items: [{ product_id: "moon-boots", quantity: 1 }] })).toEqual([400, 'items[0].product_id "moon-boots" is not in the catalogue']);
    expect(await post({ ...order, items: [{ product_id: "wool-socks", quantity: 1 }] })).toEqual([400, "Merino socks (3 pairs) is out of stock"]);
    expect(await post({ ...order, items: [{ product_id: "trail-runner", quantity: 0 }] })).toEqual([400, "items[0].quantity must be an integer from 1 to 99"]);
    expect(await post({ ...order, shipping_method: "drone" })).toEqual([400, "shipping_method must be one of standard, express, pickup"]);
    expect(await post({ ...order, coupon: "FREE" })).toEqual([400, 'coupon "FREE" is not valid']);
    expect(await post({ ...order, ids: { anonymous_id: "" } })).toEqual([400, "ids.anonymous_id must be a string of 1 to 128 characters"]);
    const res = await fetch(`${local.url}/api/checkout`, { method: "POST", body: "{" });
    expect([res.status, await res.json()]).toEqual([400, { error: { message: "the body must be JSON" } }]);
    // An order without the browser's ids (the visitor opted out) is placed and not tracked.
    const placed = await fetch(`${local.url}/api/checkout`, { method: "POST", body: JSON.stringify(order) });
    expect(placed.status).toBe(201);
    expect(local.driftless.pending).toBe(0);
    await local.close();
  });
});

describe("make dev", () => {
  it("serves the page with its endpoint and the storefront's modules through Vite", async () => {
    const dev = await startShop({ endpoint: "http://127.0.0.1:1/v1/batch?a=1&b=2", port: 0, dev: true, ...STACK_SHOP });
    try {
      const html = await (await fetch(`${dev.url}/products/trail-runner`, { headers: { accept: "text/html" } })).text();
      expect(html).toContain('<meta name="driftless-endpoint" content="http://127.0.0.1:1/v1/batch?a=1&amp;b=2" />');
      expect(html).toContain("/@vite/client");
      const main = await fetch(`${dev.url}/src/main.ts`);
      expect([main.status, main.headers.get("content-type")]).toEqual([200, "text/javascript"]);
      expect((await fetch(`${dev.url}/@vite/client`)).headers.get("content-type")).toBe("text/javascript");
    } finally {
      await dev.close();
    }
  });
});
