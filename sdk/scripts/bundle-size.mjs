// Bundles an entry the way an application's bundler does (esbuild, ESM, minified, tree-shaken)
// and measures it gzipped. Used by the size test and by the benchmark's size table; run on its
// own (`npm run size`), it prints the browser SDK's size and fails above the limit.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** The browser entry, `createClient` with every method of the client it returns. */
export const SDK_ENTRY = fileURLToPath(new URL("../src/index.ts", import.meta.url));
/** Gzipped bytes the browser SDK must stay under (`npm test` fails above it). */
export const SIZE_LIMIT = 3 * 1024;
/** Gzipped bytes the browser SDK aims for. */
export const SIZE_GOAL = 2.5 * 1024;

/** @param {{ entry?: string, contents?: string, resolveDir?: string }} input */
export async function bundleSize(input) {
  const result = await build({
    ...(input.entry
      ? { entryPoints: [input.entry] }
      : { stdin: { contents: input.contents, resolveDir: input.resolveDir, loader: "js" } }),
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    write: false,
    logLevel: "silent",
    define: { "process.env.NODE_ENV": '"production"' },
  });
  const code = result.outputFiles[0].contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { minified, gzipped } = await bundleSize({ entry: SDK_ENTRY });
  console.log(`@driftless/sdk (browser): ${minified} B minified, ${gzipped} B gzipped (goal ${SIZE_GOAL}, limit ${SIZE_LIMIT})`);
  if (gzipped > SIZE_LIMIT) {
    console.error(`over the limit by ${gzipped - SIZE_LIMIT} B`);
    process.exitCode = 1;
  }
}
