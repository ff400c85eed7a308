import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { CHROMIUM } from "./env.js";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

/** Headless Chromium. Playwright gives every launch a fresh temporary profile and removes it on close. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Open the test page in `context` and wait until the SDK client exists. */
export async function openPage(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

/** The browser's anonymous id, as the SDK stored it (after the task that tracked). */
export async function anonymousId(page: Page): Promise<string> {
  const id = await page.evaluate(async () => {
    await new Promise((r) => setTimeout(r, 0));
    return JSON.parse(localStorage.getItem("driftless.id") ?? "null") as { a: string } | null;
  });
  if (!id) throw new Error("the SDK has stored no identity yet");
  return id.a;
}
