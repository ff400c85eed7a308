// A browser, reduced to what the SDK touches, for unit tests in Node: tabs of one origin that share
// localStorage and a Web Lock manager, and an ingest endpoint that records every request.
// Real Chromium behaviour is covered by the e2e suite; this harness makes the same decisions
// reproducible and fast (fake timers, scripted answers).

import { vi } from "vitest";
import { createClient } from "../../src/index.js";
import type { DriftlessClient, DriftlessOptions, WireEvent } from "../../src/index.js";

export const ENDPOINT = "https://ingest.test/v1/batch";

/** A request as the endpoint saw it. */
export interface Request {
  via: "beacon" | "fetch";
  tab: Tab;
  body: string;
  bytes: number;
  sent_at: string;
  events: WireEvent[];
  init?: RequestInit;
}

/** What the endpoint does with a request: an HTTP answer, or a network error. */
export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | "network-error";

const GONE = Symbol("gone");
const never = () => new Promise<never>(() => {});

/**
 * Exclusive locks granted in request order, like navigator.locks with one name in use. As in a
 * browser, a page that is gone loses its locks: a request it left waiting is dropped, and a lock it
 * holds passes on when it goes; its callback's promise never settles, since no script of it runs.
 */
class FakeLocks {
  private tail: Promise<unknown> = Promise.resolve();
  held = false;
  request<T>(tab: Tab, callback: () => T): Promise<Awaited<T>> {
    const turn = this.tail.then(async (): Promise<Awaited<T> | typeof GONE> => {
      if (tab.gone) return GONE;
      this.held = true;
      try {
        return await Promise.race([Promise.resolve(callback()), tab.ended.then((): typeof GONE => GONE)]);
      } finally {
        this.held = false;
      }
    });
    this.tail = turn.catch(() => undefined);
    return turn.then((r) => (r === GONE ? never() : r));
  }
}

export class Tab {
  readonly window: EventTarget;
  readonly document: EventTarget & { visibilityState: DocumentVisibilityState; title: string; referrer: string };
  readonly navigator: {
    onLine: boolean;
    language: string;
    locks?: { request<T>(name: string, callback: () => T): Promise<Awaited<T>> };
    sendBeacon?: (url: string, data: string) => boolean;
  };
  /**
   * Set by close(): the page is gone (navigated away, tab closed) and its script no longer runs.
   * The SDK's timers and promise chains live on in Node, so the browser's side makes them inert:
   * no lock is granted to the page, no request started and no answer delivered (see FakeLocks and
   * fetch). Otherwise a closed page would go on retrying next to the page that follows it.
   */
  gone = false;
  private end!: () => void;
  /** Resolves when the page goes away. */
  readonly ended = new Promise<void>((r) => (this.end = r));
  /** Bytes the browser still lets beacons carry, like Chromium's 64 KiB for requests outliving a page. */
  beaconBudget = 65_536;
  client!: DriftlessClient;

  constructor(readonly browser: Browser, url: string) {
    this.document = Object.assign(new EventTarget(), {
      visibilityState: "visible" as DocumentVisibilityState,
      title: "Shop",
      referrer: "https://search.test/",
    });
    this.navigator = {
      onLine: true,
      language: "de-DE",
      locks: { request: (_name, callback) => browser.locks.request(this, callback) },
      sendBeacon: (u: string, data: string) => this.beacon(u, data),
    };
    this.window = Object.assign(new EventTarget(), {
      document: this.document,
      navigator: this.navigator,
      // href, pathname and search, as window.location has them.
      location: new URL(url),
      screen: { width: 1440, height: 900 },
      fetch: (u: string, init: RequestInit) => this.fetch(u, init),
    });
    Object.defineProperty(this.window, "localStorage", {
      get() {
        if (browser.storageBlocked) throw new DOMException("The operation is insecure.", "SecurityError");
        return browser.storage;
      },
    });
  }

  /** Create the SDK client in this tab (the SDK reads `window` once, at creation). */
  open(options: DriftlessOptions = {}): DriftlessClient {
    if (this.gone) throw new Error("this page is gone: the next page is a new Tab");
    // Loading a page takes time: under a frozen fake clock, a page opened "later" would share its
    // first millisecond with events tracked before it.
    if (vi.isFakeTimers()) vi.setSystemTime(Date.now() + 1);
    const g = globalThis as { window?: unknown };
    const previous = g.window;
    g.window = this.window;
    try {
      this.client = createClient(ENDPOINT, options);
    } finally {
      g.window = previous;
    }
    return this.client;
  }

  hide(): void {
    this.document.visibilityState = "hidden";
    this.document.dispatchEvent(new Event("visibilitychange"));
  }

  show(): void {
    this.document.visibilityState = "visible";
    this.document.dispatchEvent(new Event("visibilitychange"));
  }

  /**
   * What a navigation away or a closed tab does: hidden, then pagehide, then the page is gone.
   * A page that follows, in this tab or another, is a new Tab.
   */
  close(): void {
    this.hide();
    this.window.dispatchEvent(new Event("pagehide"));
    this.gone = true;
    this.end();
  }

  offline(): void {
    this.navigator.onLine = false;
    this.window.dispatchEvent(new Event("offline"));
  }

  online(): void {
    this.navigator.onLine = true;
    this.window.dispatchEvent(new Event("online"));
  }

  private beacon(url: string, data: string): boolean {
    const bytes = Buffer.byteLength(data);
    if (bytes > this.beaconBudget) return false;
    this.beaconBudget -= bytes;
    this.browser.record("beacon", this, url, data);
    return true;
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    // A page that is gone starts no request.
    if (this.gone) return never();
    const body = String(init.body);
    // Chromium refuses keepalive bodies beyond the 64 KiB it shares with beacons with a TypeError,
    // like a network error.
    if (init.keepalive && Buffer.byteLength(body) > Math.min(65_536, this.beaconBudget)) throw new TypeError("Failed to fetch");
    if (!this.navigator.onLine) throw new TypeError("Failed to fetch");
    const request = this.browser.record("fetch", this, url, body, init);
    const answer = await this.browser.answer(request);
    // A keepalive request outlives its page, which never reads the answer.
    if (this.gone) return never();
    if (answer == "network-error") throw new TypeError("Failed to fetch");
    const headers = new Headers(answer.headers);
    return {
      ok: answer.status >= 200 && answer.status < 300,
      status: answer.status,
      headers,
      json: async () => answer.body,
    } as Response;
  }
}

/**
 * Web Storage: items are the object's own enumerable properties (so Object.keys lists them and
 * tests can read `storage[key]`), methods live on the prototype.
 */
export class FakeStorage {
  [key: string]: unknown;
  getItem(key: string): string | null {
    return Object.hasOwn(this, key) ? (this[key] as string) : null;
  }
  setItem(key: string, value: string): void {
    this[key] = String(value);
  }
  removeItem(key: string): void {
    delete this[key];
  }
}

export class Browser {
  /** localStorage of the origin, shared by its tabs. */
  storage: FakeStorage = new FakeStorage();
  storageBlocked = false;
  locks = new FakeLocks();
  requests: Request[] = [];
  /** Answers for the next requests, in order; after them every request is accepted. */
  script: (Answer | ((r: Request) => Answer | Promise<Answer>))[] = [];

  tab(url = "https://shop.test/p/42"): Tab {
    return new Tab(this, url);
  }

  record(via: Request["via"], tab: Tab, url: string, body: string, init?: RequestInit): Request {
    if (url != ENDPOINT) throw new Error(`request to unexpected URL ${url}`);
    const parsed = JSON.parse(body) as { sent_at: string; events: WireEvent[] };
    const request: Request = { via, tab, body, bytes: Buffer.byteLength(body), sent_at: parsed.sent_at, events: parsed.events, init };
    this.requests.push(request);
    return request;
  }

  async answer(request: Request): Promise<Answer> {
    const next = this.script.shift();
    if (next) return typeof next == "function" ? next(request) : next;
    return { status: 200, body: { accepted: request.events.length, rejected: [] } };
  }

  /** Every event the endpoint received, in arrival order. */
  get received(): WireEvent[] {
    return this.requests.flatMap((r) => r.events);
  }

  /** Keys of events waiting in localStorage. */
  get queued(): string[] {
    return Object.keys(this.storage).filter((k) => k.startsWith("driftless.e."));
  }
}

/** Let microtasks, promise chains and zero-delay timers run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

export const page = (n: number) => ({ path: `/p/${n}` });
