import { afterEach, describe, expect, it, vi } from "vitest";
import { removeBrowserGlobals, trapBrowserGlobals } from "./browser-globals.js";

describe("server-side rendering", () => {
  afterEach(() => {
    removeBrowserGlobals();
    vi.resetModules();
  });

  it("importing the SDK reads no browser global", async () => {
    const touched = trapBrowserGlobals();
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
