// Where the local stack is. The defaults are those of the local stack (`make dev`); CI and
// developers override them with the same environment variables the stack uses.
import { join } from "node:path";

export const ENDPOINT = process.env.DRIFTLESS_ENDPOINT ?? "http://127.0.0.1:9000/lambda-url/ingest/v1/batch";
export const MOTO_URL = (process.env.DRIFTLESS_MOTO_URL ?? "http://127.0.0.1:4566").replace(/\/$/, "");
export const BUCKET = process.env.DRIFTLESS_BUCKET ?? "driftless-local";
export const CHROMIUM = process.env.DRIFTLESS_CHROMIUM ?? "/usr/bin/chromium";
/**
 * The local stack's source keys (scripts/stack.sh): the server key, and the key of the browser
 * tests, whose pages listen on a free port each run, so it names no origins (the origin check is
 * the ingest function's tests' and tests/e2e/test_traffic.py's).
 */
export const SERVER_KEY = process.env.DRIFTLESS_KEY ?? "dk_local_server";
export const E2E_KEY = process.env.DRIFTLESS_E2E_KEY ?? "dk_local_e2e";
/** The repository's root, where scripts/ and tests/support/ are. */
export const ROOT = join(import.meta.dirname, "../../../..");
/** The Python with the repository's tools (boto3, DuckDB): the venv `make deps` makes. */
export const PYTHON = process.env.DRIFTLESS_PYTHON ?? join(ROOT, ".venv/bin/python");
/**
 * Server client options for the local stack. `cargo lambda watch` hands a request body to the
 * function as text whenever the Content-Type is text/* or application/json, and answers 500 when
 * that body is not UTF-8, as a gzip body is: against it, bodies go uncompressed. (gzip on the wire
 * is covered by the unit tests, against a real HTTP server.)
 */
export const LOCAL_STACK_CLIENT = { gzip: false, key: SERVER_KEY } as const;
