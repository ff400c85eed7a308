import { defineConfig } from "vite";

export default defineConfig({
  build: { target: "es2020", sourcemap: true },
  // The shop's one dependency, the SDK, is ESM linked from ../../sdk (npm's file: dependency):
  // nothing to pre-bundle, and Vite may serve its files.
  optimizeDeps: { noDiscovery: true },
  server: { fs: { allow: [".", "../../sdk"] } },
});
