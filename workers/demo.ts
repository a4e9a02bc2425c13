/**
 * The demo worker: `edgeq worker workers/demo.ts` (and `npm start`) run these handlers.
 *   process  works on the text in `data`
 *   sleep    waits `data.ms` milliseconds (stops early when the worker gives the task back)
 *   fail     always throws
 */
import type { Handlers } from "../src/mod.ts";

export const handlers: Handlers = {
  process(data) {
    const text = typeof data === "string" ? data : JSON.stringify(data);
    return {
      original: text,
      processed: text.toUpperCase(),
      reversed: [...text].reverse().join(""),
      length: text.length,
      words: text.split(/\s+/).filter(Boolean).length,
    };
  },

  async sleep(data, ctx) {
    const ms = Number(data?.ms ?? 1000);
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`sleep needs {"ms": <non-negative number>}, got ${JSON.stringify(data)}`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener("abort", () => (clearTimeout(timer), reject(ctx.signal.reason)), { once: true });
    });
    return { slept: ms };
  },

  fail(data) {
    throw new Error(`task failed on purpose${data ? `: ${JSON.stringify(data)}` : ""}`);
  },
};
