import type { Drop, DriftlessClient } from "../../../src/index.js";

// What the test page (support/site.ts) puts on window.
declare global {
  interface Window {
    dl: DriftlessClient;
    drops: Drop[];
    ready: boolean;
  }
}
