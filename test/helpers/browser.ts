/**
 * Headless Chromium (Debian's, /usr/bin/chromium) driven by playwright-core, for the dashboard's
 * tests. A page records what would make a test wrong without failing a step: console errors (a
 * Content-Security-Policy violation among them) and requests that leave the API's origin.
 */
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}

export interface WatchedPage {
  page: Page;
  /** Console errors and CSP violations, and requests to anywhere but `origin`. */
  problems: string[];
}

export async function openPage(browser: Browser, origin: string): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 1000 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (msg) => {
    // The refusals the test provokes are logged by Chromium as failed loads: they are the answers it wants.
    if (msg.type() === "error" && !/status of 40[13]/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("request", (req) => {
    if (!req.url().startsWith(origin) && !req.url().startsWith("data:")) problems.push(`request off the origin: ${req.url()}`);
  });
  return { page, problems };
}
