// The fake clock the unit tests run under: timers and Date, from a fixed moment, real again (and
// Math.random spies removed) after each test, so that no test depends on the one before.
import { afterEach, beforeEach, vi } from "vitest";

export const CLOCK_START = Date.UTC(2026, 10, 28, 14, 0, 0);

export function useFakeClock(): void {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: CLOCK_START });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });
}
