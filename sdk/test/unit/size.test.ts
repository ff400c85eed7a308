import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundleSize } from "../../scripts/bundle-size.mjs";

const LIMIT = 3 * 1024;
const GOAL = 2.5 * 1024;

describe("bundle size", () => {
  it(`stays under ${LIMIT} bytes gzipped, bundled and minified like an app's bundler does`, async () => {
    const { minified, gzipped } = await bundleSize({ entry: join(import.meta.dirname, "../../src/index.ts") });
    console.log(`sdk bundle: ${minified} B minified, ${gzipped} B gzipped (goal ${GOAL}, limit ${LIMIT})`);
    expect(gzipped).toBeLessThanOrEqual(LIMIT);
  });
});
