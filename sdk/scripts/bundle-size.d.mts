export interface BundleInput {
  entry?: string;
  contents?: string;
  resolveDir?: string;
}
export function bundleSize(input: BundleInput): Promise<{ minified: number; gzipped: number }>;
