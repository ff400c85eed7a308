// Browser globals replaced by getters that record each read, for tests that prove code running
// on a server (or importing the SDK there) never touches them.

export const BROWSER_GLOBALS = ["window", "document", "navigator", "localStorage", "sessionStorage", "location", "self", "screen", "XMLHttpRequest"];

/** Installs the traps on the globals this runtime does not have; returns the names read so far. */
export function trapBrowserGlobals(): string[] {
  const touched: string[] = [];
  for (const name of BROWSER_GLOBALS) {
    if (name in globalThis) continue;
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get() {
        touched.push(name);
        return undefined;
      },
    });
  }
  return touched;
}

/** Removes the traps (and anything else a test put under those names). */
export function removeBrowserGlobals(): void {
  for (const name of BROWSER_GLOBALS) Reflect.deleteProperty(globalThis, name);
}
