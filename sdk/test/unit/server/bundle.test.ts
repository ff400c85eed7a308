// The browser bundle never includes the server client, and the server client needs no browser code.
import { build } from "esbuild";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { SDK_ENTRY } from "../../../scripts/bundle-size.mjs";

const SRC = join(import.meta.dirname, "../../../src");

async function inputsOf(entry: string, platform: "browser" | "node"): Promise<string[]> {
  const result = await build({ entryPoints: [entry], bundle: true, write: false, metafile: true, format: "esm", platform, logLevel: "silent" });
  return Object.keys(result.metafile.inputs).map((p) => relative(SRC, p));
}

describe("entry points", () => {
  it("the browser entry bundles no module of the server client and no Node.js module", async () => {
    const inputs = await inputsOf(SDK_ENTRY, "browser");
    expect(inputs.filter((p) => p.startsWith("server/") || p.startsWith("node:"))).toEqual([]);
    expect(inputs).toContain("client.ts");
  });

  it("the server entry bundles none of the browser client's modules", async () => {
    const inputs = await inputsOf(join(SRC, "server/index.ts"), "node");
    expect(inputs.filter((p) => ["client.ts", "store.ts", "identity.ts", "transport.ts"].includes(p))).toEqual([]);
  });
});
