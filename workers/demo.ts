/**
 * The demo worker: `edgeq worker workers/demo.ts` (and `npm start`, `edgeq dev`) run these handlers,
 * each logging one line per task.
 *   process  works on the text in `data`
 *   sleep    waits `data.ms` milliseconds (stops early when the task is canceled or the worker gives it back)
 *   fail     always throws: retried, then dead
 *   reject   throws a PermanentError: failed at once, never retried
 */
import { type Handlers, PermanentError, type TaskContext } from "../src/mod.ts";

const log = (ctx: TaskContext, type: string, what: string) => console.log(`demo: ${type} ${ctx.id} attempt ${ctx.attempt}: ${what}`);

export const handlers: Handlers = {
  process(data, ctx) {
    const text = typeof data === "string" ? data : JSON.stringify(data);
    log(ctx, "process", JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text));
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
    if (!Number.isFinite(ms) || ms < 0) throw new PermanentError(`sleep needs {"ms": <non-negative number>}, got ${JSON.stringify(data)}`);
    log(ctx, "sleep", `${ms} ms`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener("abort", () => (clearTimeout(timer), reject(ctx.signal.reason)), { once: true });
    });
    return { slept: ms };
  },

  fail(data, ctx) {
    log(ctx, "fail", "throwing, to be retried");
    throw new Error(`task failed on purpose${data ? `: ${JSON.stringify(data)}` : ""}`);
  },

  reject(data, ctx) {
    log(ctx, "reject", "throwing a PermanentError: no retry");
    throw new PermanentError(`rejected on purpose${data ? `: ${JSON.stringify(data)}` : ""}`);
  },
};
