/**
 * Browser-only. What every page of the dashboard gets, and how a page refreshes itself when events
 * arrive: at most once a second, after the first event of a burst (the events, not a timer, drive it).
 */
import { ApiError } from "./api.ts";
import type { EventStream, TaskEvent } from "./events.ts";
import type { Rates } from "./rates.ts";

export interface ViewContext {
  events: EventStream;
  rates: Rates;
  /** Shows a message at the top of the page: an action's answer, or why it was refused. */
  notify(message: string, kind?: "ok" | "error"): void;
}

/** Renders into `root`; returns what to do when the user leaves the page. */
export type View = (ctx: ViewContext, root: HTMLElement, param: string) => () => void;

const REFRESH_MS = 1000;

export function refreshOnEvents(ctx: ViewContext, wanted: (e: TaskEvent) => boolean, refresh: () => Promise<void>): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last = 0;
  const off = ctx.events.on((e) => {
    if (!wanted(e) || timer) return;
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      void refresh();
    }, Math.max(0, last + REFRESH_MS - Date.now()));
  });
  return () => {
    off();
    if (timer) clearTimeout(timer);
  };
}

/** Runs an action of the page: says what it did, or why the API refused it (a 403 names the scope it lacks). */
export async function act(ctx: ViewContext, what: string, run: () => Promise<unknown>, after?: () => Promise<void>): Promise<void> {
  try {
    await run();
    ctx.notify(what, "ok");
    await after?.();
  } catch (err) {
    const status = err instanceof ApiError ? ` (${err.status})` : "";
    ctx.notify(`${what} refused${status}: ${(err as Error).message}`, "error");
  }
}

/** Loads a page's data, showing a failure in place of the page rather than leaving it blank. */
export async function load(root: HTMLElement, render: () => Promise<void>): Promise<void> {
  try {
    await render();
  } catch (err) {
    const status = err instanceof ApiError ? ` (${err.status})` : "";
    root.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: `Could not load${status}: ${(err as Error).message}` }));
  }
}
