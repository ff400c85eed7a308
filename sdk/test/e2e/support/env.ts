// Where the local stack is. The defaults are those of the local stack (`make dev`); CI and
// developers override them with the same environment variables the stack uses.
export const ENDPOINT = process.env.DRIFTLESS_ENDPOINT ?? "http://127.0.0.1:9000/lambda-url/ingest/v1/batch";
export const MOTO_URL = (process.env.DRIFTLESS_MOTO_URL ?? "http://127.0.0.1:4566").replace(/\/$/, "");
export const BUCKET = process.env.DRIFTLESS_BUCKET ?? "driftless-local";
export const CHROMIUM = process.env.DRIFTLESS_CHROMIUM ?? "/usr/bin/chromium";
