import { afterEach, describe, expect, it, vi } from "vitest";
import { byteLength, encode, ENVELOPE_BYTES, fill, keyField } from "../../src/transport.js";

const stored = (entries: Record<string, string>) => (key: string) => entries[key];

describe("fill", () => {
  it("takes the oldest events up to the count limit", () => {
    const events = { a: "{}", b: "{}", c: "{}" };
    expect(fill(["a", "b", "c"], stored(events), 2, 64_000)).toEqual([["a", "b"], 2]);
  });

  it("keeps the encoded body within the byte limit", () => {
    const raw = JSON.stringify({ x: "y".repeat(1000) });
    const events = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, raw]));
    const keys = Object.keys(events);
    for (const limit of [1100, 5000, 65_535]) {
      const [batch, n] = fill(keys, stored(events), 500, limit);
      expect(Buffer.byteLength(encode(batch.map(stored(events))))).toBeLessThanOrEqual(limit);
      // Adding the next event would have broken the limit.
      expect(Buffer.byteLength(encode([...batch, keys[n]!].map(stored(events))))).toBeGreaterThan(limit);
    }
  });

  it("counts bytes, not UTF-16 units, so non-ASCII text cannot push a body over the limit", () => {
    const raw = JSON.stringify({ name: "Größe ✓ 日本".repeat(50) });
    const events = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, raw]));
    const [batch] = fill(Object.keys(events), stored(events), 500, 8000);
    expect(Buffer.byteLength(encode(batch.map(stored(events))))).toBeLessThanOrEqual(8000);
    expect(batch.length).toBeLessThan(Math.floor(8000 / raw.length));
    // Never less than the real UTF-8 length, at most half as much again.
    for (const text of [raw, "plain ascii", "ü", "€", "😀", "a😀ü€b"]) {
      expect(byteLength(text)).toBeGreaterThanOrEqual(Buffer.byteLength(text));
      expect(byteLength(text)).toBeLessThanOrEqual(Buffer.byteLength(text) * 1.5);
    }
  });

  it("always takes the first event, so that no event can block the queue", () => {
    const events = { huge: JSON.stringify({ x: "y".repeat(2000) }), b: "{}" };
    expect(fill(["huge", "b"], stored(events), 10, 1000)).toEqual([["huge"], 1]);
  });

  it("skips keys whose event is gone (sent by another tab)", () => {
    expect(fill(["gone", "b"], stored({ b: "{}" }), 10, 1000)).toEqual([["b"], 2]);
  });
});

describe("encode", () => {
  afterEach(() => vi.useRealTimers());

  it("produces the wire format's batch with sent_at from the current clock", () => {
    // A fake clock: compared with the real one, a stall between the two readings on a loaded machine could fail the test.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.UTC(2026, 10, 28, 14, 0, 0, 123) });
    const body = JSON.parse(encode(['{"event_id":"1"}', '{"event_id":"2"}'])) as { sent_at: string; events: unknown[] };
    expect(body.events).toEqual([{ event_id: "1" }, { event_id: "2" }]);
    expect(body.sent_at).toBe("2026-11-28T14:00:00.123Z");
    vi.setSystemTime(Date.UTC(2026, 10, 28, 14, 0, 7, 5));
    expect((JSON.parse(encode([])) as { sent_at: string }).sent_at).toBe("2026-11-28T14:00:07.005Z");
  });

  it("puts the source key between sent_at and events, escaped as JSON, and counts its bytes", () => {
    const key = 'dk_"quoted"_ü';
    const body = encode(['{"event_id":"1"}'], keyField(key));
    expect(JSON.parse(body)).toEqual({ sent_at: expect.any(String), key, events: [{ event_id: "1" }] });
    expect(Buffer.byteLength(encode([], keyField(key)))).toBeLessThanOrEqual(ENVELOPE_BYTES + byteLength(keyField(key)));
    expect(Buffer.byteLength(encode([]))).toBe(ENVELOPE_BYTES);
    expect(keyField(undefined)).toBe("");
  });
});
