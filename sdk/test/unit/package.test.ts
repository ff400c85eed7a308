import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SDK_VERSION } from "../../src/index.js";

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")) as {
  version: string;
  dependencies?: Record<string, string>;
};

describe("package", () => {
  it("reports its own version in context.sdk.version", () => {
    expect(SDK_VERSION).toBe(pkg.version);
  });

  it("has no runtime dependencies", () => {
    expect(pkg.dependencies ?? {}).toEqual({});
  });
});
