// Bundles an entry the way an application's bundler does (esbuild, ESM, minified, tree-shaken)
// and measures it gzipped. Used by the size test and by the benchmark's size table.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";

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
