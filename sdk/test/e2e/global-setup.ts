// Fails the e2e run at once, saying what is missing, when the local stack or Chromium is not there.
import { existsSync } from "node:fs";
import { BUCKET, CHROMIUM, ENDPOINT, MOTO_URL, PYTHON, SERVER_KEY } from "./support/env.js";

async function reach(what: string, url: string, init: RequestInit, ok: (res: Response) => boolean, hint: string, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new Error(`${what} is not reachable at ${url} (${(e as Error).cause ?? e}). ${hint}`);
  }
  if (!ok(res)) throw new Error(`${what} at ${url} answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}. ${hint}`);
}

export default async function setup(): Promise<void> {
  const hint = "Start the local stack first (moto and `cargo lambda watch`), or point DRIFTLESS_ENDPOINT, DRIFTLESS_MOTO_URL and DRIFTLESS_BUCKET at it.";
  if (!existsSync(PYTHON)) throw new Error(`Python not found at ${PYTHON}: run \`make deps\` (it makes .venv), or set DRIFTLESS_PYTHON.`);
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set DRIFTLESS_CHROMIUM.`);
  // An empty object is not a batch: the real handler answers 400 with a JSON error body. The
  // first request to `cargo lambda watch` waits for its build, hence the long timeout; a stack
  // that is not running refuses the connection at once.
  await reach("The ingest endpoint", ENDPOINT, { method: "POST", body: "{}", headers: { "content-type": "text/plain", "x-driftless-key": SERVER_KEY } }, (r) => r.status == 400, hint, 300_000);
  await reach("moto (S3)", `${MOTO_URL}/${BUCKET}?list-type=2&max-keys=1&prefix=raw/`, {}, (r) => r.ok, hint, 10_000);
}
