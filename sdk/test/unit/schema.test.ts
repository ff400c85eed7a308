// The hand-written events.generated.ts must match schema/ until codegen writes it. The
// `tsc` (in `npm test`) checks the expected compile errors below: if a wrong call ever compiles, the
// typecheck fails.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, expectTypeOf, it } from "vitest";
import { createClient, SCHEMA_VERSIONS, type EventType, type PropertiesOf } from "../../src/index.js";

const SCHEMA_DIR = join(import.meta.dirname, "../../../schema");

interface JsonSchema {
  required?: string[];
  properties: Record<string, { type?: string; enum?: string[] }>;
}

function latestSchemas(): Record<string, { version: string; schema: JsonSchema }> {
  const out: Record<string, { version: string; schema: JsonSchema }> = {};
  for (const entry of readdirSync(SCHEMA_DIR, { withFileTypes: true })) {
    // Event types are directories; files beside them (e.g. the envelope schema) are not events.
    if (!entry.isDirectory()) continue;
    const type = entry.name;
    const versions = readdirSync(join(SCHEMA_DIR, type)).map((f) => f.replace(/\.json$/, ""));
    const version = versions.sort((a, b) => a.localeCompare(b, "en", { numeric: true })).at(-1)!;
    out[type] = { version, schema: JSON.parse(readFileSync(join(SCHEMA_DIR, type, `${version}.json`), "utf8")) as JsonSchema };
  }
  return out;
}

describe("typed events", () => {
  it("know every event type of schema/, at its latest version", () => {
    const schemas = latestSchemas();
    expect(SCHEMA_VERSIONS).toEqual(Object.fromEntries(Object.entries(schemas).map(([t, s]) => [t, s.version])));
  });

  it("type required and optional properties as the schema does", () => {
    expectTypeOf<PropertiesOf<"page_viewed">>().toEqualTypeOf<{
      path: string;
      title?: string;
      search?: string;
      category?: "home" | "listing" | "product" | "cart" | "checkout" | "account" | "content" | "other";
    }>();
    expectTypeOf<PropertiesOf<"checkout_completed">["items"]>().toEqualTypeOf<{ product_id: string; quantity: number; price: number }[]>();
    expectTypeOf<EventType>().toEqualTypeOf<"cart_item_added" | "checkout_completed" | "page_viewed" | "product_viewed" | "signed_up">();
    const schemas = latestSchemas();
    expect(schemas["page_viewed"]!.schema.required).toEqual(["path"]);
    expect(schemas["checkout_completed"]!.schema.required).toEqual(["order_id", "total", "currency", "items"]);
  });

  it("reject unknown events, unknown or missing properties and wrong types at compile time", () => {
    // No window here: the client is inert and these calls only matter to the compiler.
    const client = createClient("https://ingest.test/v1/batch");
    client.track("signed_up", { method: "github", plan: "pro" });
    // @ts-expect-error unknown event type
    client.track("page_view", { path: "/" });
    // @ts-expect-error missing required property
    client.track("product_viewed", { product_id: "1", currency: "EUR" });
    // @ts-expect-error unknown property
    client.track("page_viewed", { path: "/", referer: "x" });
    // @ts-expect-error number where the schema says string
    client.track("cart_item_added", { cart_id: "c", product_id: 42, quantity: 1, price: 1, currency: "EUR" });
    // @ts-expect-error value outside the enum
    client.track("signed_up", { method: "fax" });
    expect(client.track("page_viewed", { path: "/" })).toBeUndefined();
  });
});
