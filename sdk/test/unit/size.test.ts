import { describe, expect, it } from "vitest";
import { bundleSize, SDK_ENTRY, SIZE_GOAL, SIZE_LIMIT } from "../../scripts/bundle-size.mjs";

describe("bundle size", () => {
  it(`stays under ${SIZE_LIMIT} bytes gzipped, bundled and minified like an app's bundler does`, async () => {
    const { minified, gzipped } = await bundleSize({ entry: SDK_ENTRY });
    console.log(`sdk bundle: ${minified} B minified, ${gzipped} B gzipped (goal ${SIZE_GOAL}, limit ${SIZE_LIMIT})`);
    expect(gzipped).toBeLessThanOrEqual(SIZE_LIMIT);
  });
});
