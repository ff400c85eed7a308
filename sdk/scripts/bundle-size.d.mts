export interface BundleInput {
  entry?: string;
  contents?: string;
  resolveDir?: string;
}
export const SDK_ENTRY: string;
export const SIZE_LIMIT: number;
export const SIZE_GOAL: number;
export function bundleSize(input: BundleInput): Promise<{ minified: number; gzipped: number }>;
