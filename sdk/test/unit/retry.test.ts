import { afterEach, describe, expect, it, vi } from "vitest";
import { RETRY_BASE_MS, retryDelay } from "../../src/retry.js";
import { RETRY_MAX_MS } from "../../src/transport.js";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("retryDelay", () => {
  it("honours Retry-After in delta-seconds", () => {
    expect(retryDelay(1, "7", RETRY_MAX_MS)).toBe(7000);
    expect(retryDelay(9, "0", RETRY_MAX_MS)).toBe(0);
    // The server asked for it: longer than the backoff ceiling is still honoured.
    expect(retryDelay(1, "600", RETRY_MAX_MS)).toBe(600_000);
  });

  it("honours Retry-After as an HTTP date, counted from the current clock", () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.UTC(2026, 10, 28, 14, 30, 0) });
    expect(retryDelay(1, "Sat, 28 Nov 2026 14:30:07 GMT", RETRY_MAX_MS)).toBe(7000);
    // RFC 9110's obsolete RFC 850 form, which recipients must still read.
    expect(retryDelay(1, "Saturday, 28-Nov-26 14:31:00 GMT", RETRY_MAX_MS)).toBe(60_000);
    vi.setSystemTime(Date.UTC(2026, 10, 28, 14, 30, 5));
    expect(retryDelay(1, "Sat, 28 Nov 2026 14:30:07 GMT", RETRY_MAX_MS)).toBe(2000);
  });

  it("retries at once when the HTTP date is already past", () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.UTC(2026, 10, 28, 14, 30, 0) });
    expect(retryDelay(3, "Sat, 28 Nov 2026 14:00:00 GMT", RETRY_MAX_MS)).toBe(0);
  });

  it("falls back to full jitter when Retry-After is absent or unreadable", () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    expect(retryDelay(1, null, RETRY_MAX_MS)).toBe(0.5 * RETRY_BASE_MS * 2);
    expect(retryDelay(2, "", RETRY_MAX_MS)).toBe(0.5 * RETRY_BASE_MS * 4);
    expect(retryDelay(3, "soon", RETRY_MAX_MS)).toBe(0.5 * RETRY_BASE_MS * 8);
  });

  it("draws the jitter uniformly from zero up to the exponential ceiling, capped at max", () => {
    const random = vi.spyOn(Math, "random");
    random.mockReturnValue(0);
    expect(retryDelay(4, undefined, RETRY_MAX_MS)).toBe(0);
    random.mockReturnValue(0.999999);
    expect(retryDelay(4, undefined, RETRY_MAX_MS)).toBeCloseTo(RETRY_BASE_MS * 16, -1);
    expect(retryDelay(30, undefined, RETRY_MAX_MS)).toBeLessThan(RETRY_MAX_MS);
    expect(retryDelay(30, undefined, RETRY_MAX_MS)).toBeGreaterThan(RETRY_MAX_MS * 0.99);
    // Another base and ceiling, as the server client configures them.
    expect(retryDelay(3, undefined, 5000, 100)).toBeCloseTo(800, 0);
    expect(retryDelay(10, undefined, 5000, 100)).toBeCloseTo(5000, 0);
  });

  it("stays within [0, ceiling) over many draws", () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
      const draws = Array.from({ length: 2000 }, () => retryDelay(attempt, null, RETRY_MAX_MS));
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...draws)).toBeLessThan(ceiling);
      // Uniform, not clustered at the top as "equal jitter" would be: a good share in the lower half.
      expect(draws.filter((d) => d < ceiling / 2).length).toBeGreaterThan(800);
    }
  });
});
