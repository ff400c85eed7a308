import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../src/uuidv7.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("uuidv7", () => {
  it("has the version 7 and RFC 9562 variant bits", () => {
    for (let i = 0; i < 2000; i++) expect(uuidv7(Date.now())).toMatch(UUID_V7);
  });

  it("starts with the 48-bit millisecond timestamp", () => {
    const ms = Date.UTC(2026, 10, 28, 14, 30, 22, 123);
    const id = uuidv7(ms);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
  });

  it("sorts by creation time across milliseconds", () => {
    const ids = [0, 1, 255, 256, 65_536, Date.now(), 2 ** 47].map((ms) => uuidv7(ms));
    expect([...ids].sort()).toEqual(ids);
  });

  it("sorts by creation time within one millisecond", () => {
    const ms = Date.now() + 1;
    const ids = Array.from({ length: 2048 }, () => uuidv7(ms));
    expect([...ids].sort()).toEqual(ids);
  });

  it("does not repeat over many ids drawn in the same millisecond", () => {
    const ms = Date.now();
    const ids = new Set(Array.from({ length: 20_000 }, () => uuidv7(ms)));
    expect(ids.size).toBe(20_000);
  });
});
