import { afterEach, describe, expect, it, vi } from "vitest";

const BROWSER_GLOBALS = ["window", "document", "navigator", "localStorage", "location", "self", "screen"];

describe("server-side rendering", () => {
  afterEach(() => {
    for (const name of BROWSER_GLOBALS) Reflect.deleteProperty(globalThis, name);
    vi.resetModules();
  });

  it("importing the SDK reads no browser global", async () => {
    const touched: string[] = [];
    for (const name of BROWSER_GLOBALS) {
      if (name in globalThis) continue;
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() {
          touched.push(name);
          return undefined;
        },
      });
    }
    vi.resetModules();
    const sdk = await import("../../src/index.js");
    expect(sdk.createClient).toBeTypeOf("function");
    expect(touched).toEqual([]);
  });

  it("a client created on a server is inert: no throw, no event, flush resolves", async () => {
    const { createClient } = await import("../../src/index.js");
    const client = createClient("https://ingest.test/v1/batch");
    expect(client.track("page_viewed", { path: "/" })).toBeUndefined();
    expect(client.page()).toBeUndefined();
    expect(client.ids()).toBeUndefined();
    client.register({});
    client.unregister();
    client.identify("u");
    client.reset();
    client.setConsent(true);
    await expect(client.flush()).resolves.toBeUndefined();
    await expect(client.shutdown()).resolves.toBeUndefined();
  });
});
