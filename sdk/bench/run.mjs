#!/usr/bin/env node
// `npm run bench`: (1) main-thread time of one track() call in headless Chromium, median and p99
// over 10,000 calls; (2) gzipped bundle size of this SDK against other analytics SDKs, each
// bundled by the same esbuild script (scripts/bundle-size.mjs) in this run.
// The other SDKs are dependencies of this folder only, installed here on first use.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { bundleSize } from "../scripts/bundle-size.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const sdkEntry = join(here, "../src/index.ts");
const CALLS = 10_000;
const BLOCK = 10;

function installBenchDependencies() {
  if (existsSync(join(here, "node_modules/.package-lock.json"))) return;
  console.log("Installing the benchmark's dependencies (bench/package-lock.json)...");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: here, stdio: "inherit" });
}

/** What an app does with each SDK: load it, start it, send one event. */
const ENTRIES = {
  "driftless (this SDK)": `import { createClient } from ${JSON.stringify(sdkEntry)};
const c = createClient("https://ingest.example.invalid/v1/batch");
c.track("page_viewed", { path: "/" });`,
  "@segment/analytics-next": `import { AnalyticsBrowser } from "@segment/analytics-next";
const a = AnalyticsBrowser.load({ writeKey: "key" });
a.track("page_viewed", { path: "/" });`,
  "posthog-js": `import posthog from "posthog-js";
posthog.init("key", { api_host: "https://ingest.example.invalid" });
posthog.capture("page_viewed", { path: "/" });`,
  "@rudderstack/analytics-js": `import { RudderAnalytics } from "@rudderstack/analytics-js";
const r = new RudderAnalytics();
r.load("key", "https://ingest.example.invalid");
r.track("page_viewed", { path: "/" });`,
  "@snowplow/browser-tracker": `import { newTracker, trackSelfDescribingEvent } from "@snowplow/browser-tracker";
newTracker("sp", "https://ingest.example.invalid");
trackSelfDescribingEvent({ event: { schema: "iglu:com.example/page_viewed/jsonschema/1-0-0", data: { path: "/" } } });`,
  "@plausible-analytics/tracker": `import { init, track } from "@plausible-analytics/tracker";
init({ domain: "example.invalid" });
track("page_viewed", { props: { path: "/" } });`,
};

function version(name) {
  if (name.startsWith("driftless")) return JSON.parse(readFileSync(join(here, "../package.json"), "utf8")).version;
  return JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;
}

async function sizeTable() {
  const rows = [];
  for (const [name, contents] of Object.entries(ENTRIES)) {
    const { minified, gzipped } = await bundleSize({ contents, resolveDir: here });
    rows.push({ name, version: version(name), minified, gzipped });
  }
  return rows;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>track() benchmark</title>
<script type="module">
  import { createClient } from "/sdk.js";
  // yieldEvery: blocks between two yields to the event loop (where sends and timers run).
  window.bench = async (calls, block, yieldEvery) => {
    localStorage.clear();
    // Sends go to this page's own server, which answers at once; bigger batches keep the queue
    // short at this rate (about a thousand events a second), far above any real page's.
    let dropped = 0;
    const client = createClient(location.origin + "/ingest", { batchSize: 100, onDrop: (d) => (dropped += d.count) });
    const props = Array.from({ length: calls + 2000 }, (_, i) => ({ path: "/products/" + i, title: "Product " + i, category: "product" }));
    const yieldTask = () => new Promise((r) => setTimeout(r, 0));
    // Warm-up: JIT, the random-byte pool, the first storage writes.
    for (let i = 0; i < 2000; i++) {
      client.track("page_viewed", props[calls + i]);
      if (i % block == 0) await yieldTask();
    }
    const track = [];
    const persist = [];
    for (let b = 0; b < calls / block; b++) {
      const t0 = performance.now();
      for (let i = b * block; i < (b + 1) * block; i++) client.track("page_viewed", props[i]);
      const t1 = performance.now();
      // The end-of-task microtask that serialises and stores the block's events runs before this
      // continuation: its time is the storage cost that track() defers.
      await Promise.resolve();
      const t2 = performance.now();
      track.push(((t1 - t0) * 1000) / block);
      persist.push(((t2 - t1) * 1000) / block);
      if (b % yieldEvery == 0) await yieldTask();
    }
    const queued = Object.keys(localStorage).filter((k) => k.startsWith("driftless.e.")).length;
    await client.shutdown();
    return { track, persist, dropped, queued, isolated: crossOriginIsolated, userAgent: navigator.userAgent };
  };
  window.ready = true;
</script>`;

async function trackTiming() {
  const bundle = await build({ entryPoints: [sdkEntry], bundle: true, minify: true, format: "esm", target: "es2020", write: false, logLevel: "silent" });
  const files = { "/": ["text/html", PAGE], "/sdk.js": ["text/javascript", bundle.outputFiles[0].text] };
  const server = createServer((req, res) => {
    if (req.url === "/ingest") {
      let n = 0;
      req.on("data", (c) => (n += c.length));
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end('{"accepted":0,"rejected":[]}'));
      return;
    }
    const file = files[req.url];
    if (!file) return void res.writeHead(404).end();
    // Cross-origin isolation gives performance.now() 5 µs resolution instead of 100 µs.
    res.writeHead(200, {
      "content-type": file[0],
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cross-origin-resource-policy": "same-origin",
    }).end(file[1]);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const browser = await chromium.launch({
    executablePath: process.env.DRIFTLESS_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.ready === true);
    const run = (yieldEvery) => page.evaluate(([calls, block, y]) => window.bench(calls, block, y), [CALLS, BLOCK, yieldEvery]);
    return { interleaved: await run(1), warm: await run(50) };
  } finally {
    await browser.close();
    server.close();
  }
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

installBenchDependencies();
const timing = await trackTiming();
const sizes = await sizeTable();

const us = (x) => `${x.toFixed(2)} µs`;
const { interleaved, warm } = timing;
console.log(`\ntrack() in ${/Chrome\/[\d.]+/.exec(warm.userAgent)?.[0] ?? "Chromium"}, ${CALLS.toLocaleString("en")} calls per run, timed in blocks of ${BLOCK} calls (timer resolution ${warm.isolated ? "5 µs, cross-origin isolated" : "100 µs"}):`);
console.log(`| measure | median | p99 |\n|---|---|---|`);
const row = (label, xs) => console.log(`| ${label} | ${us(quantile(xs, 0.5))} | ${us(quantile(xs, 0.99))} |`);
row("track() call, each block in its own task, sends running between", interleaved.track);
row("track() call, 50 blocks per task (warm caches)", warm.track);
row("end-of-task storage write that track() defers, per event", interleaved.persist);
console.log(`(events dropped: ${interleaved.dropped} and ${warm.dropped}; still queued at the end: ${interleaved.queued} and ${warm.queued})`);
console.log(`\nBundle size, each bundled by esbuild (ESM, minified, browser, es2020) and gzipped -9 in this run:`);
console.log(`| SDK | version | minified | gzipped |\n|---|---|---|---|`);
for (const r of sizes) console.log(`| ${r.name} | ${r.version} | ${(r.minified / 1024).toFixed(1)} KiB | ${(r.gzipped / 1024).toFixed(2)} KiB |`);
