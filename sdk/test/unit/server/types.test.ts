// `tsc --strict` (in `npm test`) checks the expected compile errors below: if a wrong call ever
// compiles, the typecheck fails. The server client takes the browser SDK's generated types.
import { describe, expect, expectTypeOf, it } from "vitest";
import type { EventType as BrowserEventType, PropertiesOf as BrowserPropertiesOf } from "../../../src/index.js";
import { createServerClient, type EventType, type PropertiesOf, type ServerClient } from "../../../src/server/index.js";

describe("server client types", () => {
  it("are the browser SDK's generated event types", () => {
    expectTypeOf<EventType>().toEqualTypeOf<BrowserEventType>();
    expectTypeOf<PropertiesOf<"checkout_completed">>().toEqualTypeOf<BrowserPropertiesOf<"checkout_completed">>();
    expectTypeOf<Parameters<ServerClient["track"]>[0]>().toEqualTypeOf<EventType>();
  });

  it("reject unknown events, unknown or missing properties, wrong types and missing ids at compile time", async () => {
    const client = createServerClient("https://ingest.test/v1/batch", { fetch: async () => new Response(null, { status: 200 }), onDrop: () => {} });
    const who = { anonymous_id: "a-1" };
    client.track("signed_up", { method: "github", plan: "pro" }, { ...who, user_id: "u-1" });
    // @ts-expect-error unknown event type
    expect(() => client.track("page_view", { path: "/" }, who)).toThrow(TypeError);
    // @ts-expect-error missing required property
    client.track("product_viewed", { product_id: "1", currency: "EUR" }, who);
    // @ts-expect-error unknown property
    client.track("page_viewed", { path: "/", referer: "x" }, who);
    // @ts-expect-error number where the schema says string
    client.track("cart_item_added", { cart_id: "c", product_id: 42, quantity: 1, price: 1, currency: "EUR" }, who);
    // @ts-expect-error value outside the enum
    client.track("checkout_completed", { order_id: "o", total: 1, currency: "EUR", items: [], shipping_method: "drone" }, who);
    // @ts-expect-error wrong type inside an array of objects
    client.track("checkout_completed", { order_id: "o", total: 1, currency: "EUR", items: [{ product_id: "p", quantity: "2", price: 1 }] }, who);
    // @ts-expect-error no ids: a server has no browser identity to fall back on
    expect(() => client.track("page_viewed", { path: "/" })).toThrow(TypeError);
    // @ts-expect-error the ids are named as in the wire format
    expect(() => client.track("page_viewed", { path: "/" }, { anonymousId: "a-1" })).toThrow(TypeError);
    // @ts-expect-error a timestamp is a Date, a number or a string
    expect(() => client.track("page_viewed", { path: "/" }, { ...who, timestamp: true })).toThrow(TypeError);
    await client.shutdown();
  });
});
