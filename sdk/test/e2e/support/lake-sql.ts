// The committed lake, read the one way the project allows: compaction through `lake.invoke` and
// queries through `python scripts/lake.py sql`, so that a change of the lake's format changes
// scripts/lake.py only.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { PYTHON, ROOT } from "./env.js";

const run = promisify(execFile);

async function python(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(PYTHON, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${PYTHON} ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** UTC days from `since` (ms) to now, as YYYY-MM-DD: a test that straddles midnight spans two. */
function daysSince(since: number): string[] {
  const days = new Set<string>();
  for (let t = since; t < Date.now() + 86_400_000; t += 86_400_000) days.add(new Date(Math.min(t, Date.now())).toISOString().slice(0, 10));
  return [...days];
}

/** One table's append of a compaction run, as the function reports it. */
export interface CompactedDay {
  table: "events" | "quarantine";
  days: string[];
  outcome: string;
  duplicates_dropped: number;
  already_committed: number;
  rows_out: number;
}

/** Runs the compaction function (through the local stack) on every arrival day since `since`. */
export async function compactSince(since: number): Promise<CompactedDay[]> {
  const script = [
    "import json, sys",
    `sys.path.insert(0, ${JSON.stringify(join(ROOT, "scripts"))})`,
    "import lake",
    "out = []",
    "for day in json.loads(sys.argv[1]):",
    '    out += lake.invoke("compact", {"date": day})["appends"]',
    "print(json.dumps(out))",
  ].join("\n");
  return JSON.parse(await python(["-c", script, JSON.stringify(daysSince(since))])) as CompactedDay[];
}

/** Rows of one DuckDB query over the committed lake (views `events` and `quarantine`). */
export async function lakeSql<T>(query: string): Promise<T[]> {
  return JSON.parse(await python([join(ROOT, "scripts/lake.py"), "sql", query])) as T[];
}

/** A SQL string literal. */
export const sql = (value: string) => "'" + value.replaceAll("'", "''") + "'";
