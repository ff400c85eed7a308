import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // The same checks as the SDK's e2e suite: the local stack, Chromium and the repository's Python are there.
    globalSetup: ["../../sdk/test/e2e/global-setup.ts"],
  },
});
