// Mistakes in calls fail at the call, saying what to fix.
import { describe, expect, it } from "vitest";
import { createServerClient, type TrackOptions } from "../../../src/server/index.js";
import { SequenceCounters } from "../../../src/server/sequence.js";
import { ENDPOINT, FakeIngest, page, who } from "./fake-ingest.js";

describe("createServerClient", () => {
  it("needs an absolute http(s) endpoint", () => {
    expect(() => createServerClient("/v1/batch")).toThrow('createServerClient: endpoint must be an absolute http(s) URL such as https://ingest.example.com/v1/batch, got "/v1/batch"');
    expect(() => createServerClient("ftp://ingest.test/v1/batch")).toThrow("createServerClient: endpoint must use http or https, got ftp:");
  });

  it("checks numeric options against their ranges", () => {
    expect(() => createServerClient(ENDPOINT, { batchSize: 0 })).toThrow("createServerClient: batchSize must be an integer from 1 to 500, got 0");
    expect(() => createServerClient(ENDPOINT, { batchSize: 501 })).toThrow("batchSize must be an integer from 1 to 500, got 501");
    expect(() => createServerClient(ENDPOINT, { maxBytes: 2_000_000 })).toThrow("maxBytes must be an integer from 1024 to 1048576, got 2000000");
    expect(() => createServerClient(ENDPOINT, { timeout: 1.5 })).toThrow("timeout must be an integer from 1");
    expect(() => createServerClient(ENDPOINT, { maxAttempts: Number.NaN })).toThrow("maxAttempts must be an integer from 1");
  });

  it("checks that onDrop is a function", () => {
    expect(() => createServerClient(ENDPOINT, { onDrop: "log" as never })).toThrow("createServerClient: onDrop must be a function");
  });

  it.each(["", "dk srv", "dk_srv\n", 42])("refuses a key that no header can carry: %j", (key) => {
    expect(() => createServerClient(ENDPOINT, { key: key as string })).toThrow(/^createServerClient: key must be a non-empty string of visible ASCII characters/);
  });
});

describe("track()", () => {
  const client = () => new FakeIngest().client();

  it("needs an anonymous_id of 1 to 128 characters", () => {
    expect(() => client().track("page_viewed", page(1), undefined as unknown as TrackOptions)).toThrow(
      'track("page_viewed"): the third argument must be an object with at least anonymous_id',
    );
    expect(() => client().track("page_viewed", page(1), {} as TrackOptions)).toThrow('track("page_viewed"): anonymous_id must be a string of 1 to 128 characters, got undefined');
    expect(() => client().track("page_viewed", page(1), { anonymous_id: "" })).toThrow("anonymous_id must be a string of 1 to 128 characters, got 0 characters");
    expect(() => client().track("page_viewed", page(1), { anonymous_id: "a".repeat(129) })).toThrow("got 129 characters");
  });

  it("checks user_id and session_id against the envelope's lengths", () => {
    expect(() => client().track("page_viewed", page(1), { ...who, user_id: "" })).toThrow("user_id must be a string of 1 to 256 characters, got 0 characters");
    expect(() => client().track("page_viewed", page(1), { ...who, user_id: 7 as never })).toThrow("user_id must be a string of 1 to 256 characters, got number");
    expect(() => client().track("page_viewed", page(1), { ...who, session_id: "s".repeat(200) })).toThrow("session_id must be a string of 1 to 128 characters");
    expect(client().track("page_viewed", page(1), { ...who, user_id: null })).toBeDefined();
  });

  it("takes only RFC 3339 strings with an offset, and real dates", () => {
    const c = client();
    for (const timestamp of ["2026-11-28", "2026-11-28T14:00:00", "28 Nov 2026 14:00 GMT", "yesterday"]) {
      expect(() => c.track("page_viewed", page(1), { ...who, timestamp })).toThrow(
        `track("page_viewed"): timestamp must be a Date, epoch milliseconds or an RFC 3339 string such as 2026-11-28T14:30:00Z, got "${timestamp}"`,
      );
    }
    expect(() => c.track("page_viewed", page(1), { ...who, timestamp: new Date("nope") })).toThrow("got Date Invalid Date");
    expect(() => c.track("page_viewed", page(1), { ...who, timestamp: Number.POSITIVE_INFINITY })).toThrow("got Infinity");
    expect(() => c.track("page_viewed", page(1), { ...who, timestamp: Date.UTC(10_000, 0, 1) })).toThrow("timestamp must be a Date");
    expect(c.track("page_viewed", page(1), { ...who, timestamp: "2026-11-28 14:00:00.123+01:00" })).toBeDefined();
  });

  it("rejects an unknown event type and properties that are not an object, from untyped code", () => {
    const c = client();
    expect(() => c.track("page_view" as never, page(1) as never, who)).toThrow(
      'track: unknown event type "page_view"; known: cart_item_added, checkout_completed, page_viewed, product_viewed, signed_up',
    );
    expect(() => c.track("page_viewed", null as never, who)).toThrow('track("page_viewed"): properties must be an object');
    expect(() => c.track("page_viewed", [] as never, who)).toThrow("properties must be an object");
  });

  it("rejects properties that cannot be serialised, without spending a seq", async () => {
    const ingest = new FakeIngest();
    const c = ingest.client();
    const cyclic: Record<string, unknown> = { path: "/" };
    cyclic["self"] = cyclic;
    expect(() => c.track("page_viewed", cyclic as never, who)).toThrow('track("page_viewed"): the event cannot be serialised to JSON');
    expect(() => c.track("page_viewed", { path: 1n } as never, who)).toThrow(TypeError);
    c.track("page_viewed", page(1), who);
    await c.flush();
    expect(ingest.received.map((e) => e.seq)).toEqual([0]);
  });
});

describe("SequenceCounters", () => {
  it("counts per id from 0 and forgets the least recently used beyond its capacity", () => {
    const seqs = new SequenceCounters(2);
    expect([seqs.next("a"), seqs.next("a"), seqs.next("b"), seqs.next("a")]).toEqual([0, 1, 0, 2]);
    seqs.next("c"); // b is the least recently used
    expect([seqs.next("a"), seqs.next("b")]).toEqual([3, 0]);
  });
});
