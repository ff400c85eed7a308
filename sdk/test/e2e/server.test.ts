// The Node.js server client against the real local stack: the ingest function under
// `cargo lambda watch`, moto's Firehose and S3, and the compaction function; what landed is read
// from the committed lake. Faults come from tests/support/fault_proxy.py in front of the endpoint.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServerClient, type ServerDrop } from "../../src/server/index.js";
import { ENDPOINT, LOCAL_STACK_CLIENT } from "./support/env.js";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy.js";
import { compactSince, lakeSql, sql } from "./support/lake-sql.js";

interface LakeRow {
  event_id: string;
  event_type: string;
  seq: number;
  user_id: string | null;
  session_id: string;
  client_timestamp: string;
  sdk_name: string;
  properties: string;
  copies: number;
}

const since = Date.now();
const newAnon = (what: string) => `node-e2e-${what}-${randomUUID().slice(0, 8)}`;

/** Compacts what arrived, then every lake row of one anonymous id, with how many copies the lake holds. */
async function inLake(anonymousId: string): Promise<LakeRow[]> {
  await compactSince(since);
  return lakeSql<LakeRow>(
    `SELECT event_id, any_value(event_type) AS event_type, any_value(seq) AS seq, any_value(user_id) AS user_id,
            any_value(session_id) AS session_id, strftime(any_value(client_timestamp), '%Y-%m-%dT%H:%M:%S.%gZ') AS client_timestamp,
            any_value(sdk_name) AS sdk_name, any_value(properties) AS properties, count(*) AS copies
     FROM events WHERE anonymous_id = ${sql(anonymousId)} GROUP BY event_id ORDER BY seq`,
  );
}

let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy();
});
afterAll(async () => {
  await proxy?.close();
});

describe("Node.js client against the local stack", () => {
  it("delivers a batch: each event lands in the lake once, with the ids and times the calls gave", async () => {
    const anon = newAnon("batch");
    const drops: ServerDrop[] = [];
    const client = createServerClient(ENDPOINT, { ...LOCAL_STACK_CLIENT, onDrop: (d) => drops.push(d) });
    const who = { anonymous_id: anon, user_id: "user-e2e" };
    const threeDaysAgo = new Date(Date.now() - 3 * 86_400_000);
    const ids = [
      client.track("signed_up", { method: "email", plan: "pro" }, who),
      client.track("cart_item_added", { cart_id: "c-1", product_id: "sku-1", quantity: 2, price: 19.5, currency: "EUR" }, { ...who, session_id: "browser-session" }),
      client.track("checkout_completed", { order_id: "o-1", total: 39, currency: "EUR", items: [{ product_id: "sku-1", quantity: 2, price: 19.5 }], shipping_method: "express" }, who),
      // A backfill: an event of three days ago.
      client.track("page_viewed", { path: "/backfilled" }, { ...who, timestamp: threeDaysAgo }),
    ];
    await client.shutdown();
    expect(drops).toEqual([]);

    const rows = await inLake(anon);
    expect(rows.map((r) => [r.event_id, r.copies])).toEqual(ids.map((id) => [id, 1]));
    expect(rows.map((r) => [r.event_type, r.seq, r.user_id, r.sdk_name])).toEqual([
      ["signed_up", 0, "user-e2e", "driftless-node"],
      ["cart_item_added", 1, "user-e2e", "driftless-node"],
      ["checkout_completed", 2, "user-e2e", "driftless-node"],
      ["page_viewed", 3, "user-e2e", "driftless-node"],
    ]);
    expect(rows[1]!.session_id).toBe("browser-session");
    expect(new Set([rows[0], rows[2], rows[3]].map((r) => r!.session_id)).size).toBe(1);
    expect(rows[3]!.client_timestamp).toBe(threeDaysAgo.toISOString());
    expect(JSON.parse(rows[2]!.properties)).toEqual({ order_id: "o-1", total: 39, currency: "EUR", items: [{ product_id: "sku-1", quantity: 2, price: 19.5 }], shipping_method: "express" });
  });

  it("reports the event the endpoint rejected in a mixed batch, with its errors; the others land", async () => {
    const anon = newAnon("mixed");
    const drops: ServerDrop[] = [];
    const client = createServerClient(ENDPOINT, { ...LOCAL_STACK_CLIENT, onDrop: (d) => drops.push(d) });
    const who = { anonymous_id: anon };
    const good = [
      client.track("product_viewed", { product_id: "sku-1", price: 10, currency: "EUR" }, who),
      client.track("product_viewed", { product_id: "sku-2", price: 12, currency: "EUR" }, who),
    ];
    // Untyped code sends a string where the schema wants a number.
    const bad = client.track("product_viewed", { product_id: "sku-3", price: "12.00" as unknown as number, currency: "EUR" }, who);
    good.push(client.track("product_viewed", { product_id: "sku-4", price: 14, currency: "EUR" }, who));
    await client.shutdown();

    expect(drops).toHaveLength(1);
    const [drop] = drops;
    expect(drop!.reason).toBe("rejected");
    expect(drop!.events.map((e) => e.event_id)).toEqual([bad]);
    expect(drop!.errors).toEqual([{ index: 2, event_id: bad, reason: "properties", errors: [{ path: "/properties/price", message: expect.stringContaining("must be a number") }] }]);

    const rows = await inLake(anon);
    expect(rows.map((r) => [r.event_id, r.copies])).toEqual(good.map((id) => [id, 1]));
    const quarantined = await lakeSql<{ reason: string; n: number }>(`SELECT reason, count(*) AS n FROM quarantine WHERE event_id = ${sql(bad!)} GROUP BY reason`);
    expect(quarantined).toEqual([{ reason: "properties", n: 1 }]);
  });

  it("rides out a 503 storm and lost answers: everything lands, once", async () => {
    const anon = newAnon("storm");
    const drops: ServerDrop[] = [];
    const client = createServerClient(proxy.endpoint, { ...LOCAL_STACK_CLIENT, batchSize: 25, retryBaseDelay: 200, maxRetryDelay: 2000, onDrop: (d) => drops.push(d) });
    const track = (n: number) => Array.from({ length: n }, (_, i) => client.track("page_viewed", { path: `/storm/${i}` }, { anonymous_id: anon })!);
    const before = (await proxy.stats()).requests;

    // Five 503s that never reach the endpoint: Retry-After in seconds, then as an HTTP date.
    await proxy.arm({ mode: "reject", count: 3, status: 503, retry_after: "1" });
    const first = track(60);
    await client.flush();
    await proxy.arm({ mode: "reject", count: 2, status: 503, retry_after: new Date(Date.now() + 1000).toUTCString() });
    const second = track(40);
    await client.flush();
    // Three answers lost after the endpoint stored the events: the client sends them again.
    await proxy.arm({ mode: "lose_response", count: 3 });
    const third = track(75);
    await client.shutdown();
    await proxy.arm({ mode: "off" });
    expect(drops).toEqual([]);

    const sent = (await proxy.sentEventIds()).slice(before).flat();
    const ids = [...first, ...second, ...third];
    const times = new Map<string, number>();
    for (const id of sent) times.set(id, (times.get(id) ?? 0) + 1);
    // Retried: the rejected batches and the ones whose answer was lost went out more than once.
    expect([...times.values()].filter((n) => n > 1).length).toBeGreaterThanOrEqual(3 * 25);
    expect(new Set(sent)).toEqual(new Set(ids));

    // The lost answers' events reached the endpoint twice: compaction drops the second copies.
    const compacted = await compactSince(since);
    expect(compacted.filter((d) => d.table == "events").reduce((n, d) => n + d.duplicates_dropped + d.already_committed, 0)).toBeGreaterThanOrEqual(75);
    const rows = await inLake(anon);
    expect(rows.length).toBe(ids.length);
    expect(rows.every((r) => r.copies == 1)).toBe(true);
    expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(ids));
    expect(rows.map((r) => r.seq)).toEqual([...ids.keys()]);
  });

  it("delivers every event still queued when a process calls shutdown() and exits", async () => {
    const anon = newAnon("exit");
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, "fixtures/shutdown-child.mjs"), ENDPOINT, anon, "130", JSON.stringify(LOCAL_STACK_CLIENT)], {
      cwd: join(import.meta.dirname, "../.."),
    });
    const child = JSON.parse(stdout) as { ids: string[]; queuedAtShutdown: number; pendingAfter: number; drops: unknown[]; browserGlobals: string[] };
    expect(child.browserGlobals).toEqual([]);
    expect(child.queuedAtShutdown).toBe(130);
    expect(child.pendingAfter).toBe(0);
    expect(child.drops).toEqual([]);

    const rows = await inLake(anon);
    expect(rows.map((r) => r.event_id).sort()).toEqual([...child.ids].sort());
    expect(rows.every((r) => r.copies == 1)).toBe(true);
  });
});
