// Reads what the pipeline stored: the NDJSON objects Firehose wrote under raw/events/ in the
// local stack's S3 (moto), over plain HTTP.
import { BUCKET, MOTO_URL } from "./env.js";

/** A stored record: the wire event plus the fields ingest adds. */
export interface StoredEvent {
  event_id: string;
  event_type: string;
  schema_version: string;
  timestamp: string;
  client_timestamp: string;
  sent_at: string;
  received_at: string;
  anonymous_id: string;
  user_id: string | null;
  session_id: string;
  seq: number;
  user_agent?: string;
  context?: Record<string, unknown>;
  properties: Record<string, unknown>;
}

// moto answers GetObject without a signature only to requests that carry some SigV4
// Authorization header; it does not check it, so a placeholder without any secret is enough.
const AUTH = {
  authorization: "AWS4-HMAC-SHA256 Credential=driftless-e2e/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
};

const seen = new Map<string, StoredEvent[]>();

async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const url = new URL(`${MOTO_URL}/${BUCKET}`);
    url.searchParams.set("list-type", "2");
    url.searchParams.set("prefix", prefix);
    if (token) url.searchParams.set("continuation-token", token);
    const res = await fetch(url, { headers: AUTH });
    if (!res.ok) throw new Error(`listing s3://${BUCKET}/${prefix} at ${MOTO_URL}: HTTP ${res.status}`);
    const xml = await res.text();
    for (const m of xml.matchAll(/<Key>([^<]+)<\/Key>/g)) keys.push(decodeXml(m[1]!));
    token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? decodeXml(/<NextContinuationToken>([^<]+)</.exec(xml)?.[1] ?? "") : undefined;
  } while (token);
  return keys;
}

const decodeXml = (s: string) => s.replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'");

/** Hour prefixes (Firehose's UTC time prefix) from `since` to now. */
function hourPrefixes(since: number): string[] {
  const out: string[] = [];
  for (let t = since - 3_600_000; t <= Date.now() + 3_600_000; t += 3_600_000) {
    const d = new Date(t).toISOString();
    out.push(`raw/events/${d.slice(0, 4)}/${d.slice(5, 7)}/${d.slice(8, 10)}/${d.slice(11, 13)}/`);
  }
  return out;
}

/** Every record stored since `since` (ms). Objects are immutable, so each is read once. */
export async function storedEvents(since: number): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (const prefix of hourPrefixes(since)) {
    for (const key of await listKeys(prefix)) {
      let records = seen.get(key);
      if (!records) {
        const res = await fetch(`${MOTO_URL}/${BUCKET}/${key.split("/").map(encodeURIComponent).join("/")}`, { headers: AUTH });
        if (!res.ok) throw new Error(`reading s3://${BUCKET}/${key}: HTTP ${res.status}`);
        records = (await res.text())
          .split("\n")
          .filter((line) => line.trim())
          .map((line) => JSON.parse(line) as StoredEvent);
        seen.set(key, records);
      }
      out.push(...records);
    }
  }
  return out;
}

/**
 * The records of one browser (anonymous id) once `count` of them are stored, or whatever is
 * stored when `timeoutMs` runs out (the caller's assertion then shows what is missing). Waits
 * `settleMs` more after the count is reached, so that a duplicate arriving late is seen too.
 */
export async function waitForEvents(anonymousId: string, count: number, since: number, timeoutMs = 20_000, settleMs = 1500): Promise<StoredEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const mine = (await storedEvents(since)).filter((e) => e.anonymous_id === anonymousId);
    if (mine.length >= count) {
      await new Promise((r) => setTimeout(r, settleMs));
      return (await storedEvents(since)).filter((e) => e.anonymous_id === anonymousId);
    }
    if (Date.now() > deadline) return mine;
    await new Promise((r) => setTimeout(r, 250));
  }
}
