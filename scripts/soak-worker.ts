/**
 * The soak test's worker module (`edgeq worker scripts/soak-worker.ts`): a mix of handlers that
 * succeed, fail now and then, take their time, or always fail. Every handler start is logged to
 * SOAK_LOG, so the soak can count duplicate executions.
 */
import { appendFileSync } from "node:fs";
import type { Handlers, TaskContext } from "../src/mod.ts";

function started(ctx: TaskContext): void {
  appendFileSync(process.env.SOAK_LOG!, `${ctx.id} ${ctx.attempt}\n`);
}

export const handlers: Handlers = {
  ok(data, ctx) {
    started(ctx);
    return data;
  },
  flaky(_data, ctx) {
    started(ctx);
    if (Math.random() < 0.5) throw new Error(`flaky failure on attempt ${ctx.attempt}`);
    return "made it";
  },
  async slow(data: { ms: number }, ctx) {
    started(ctx);
    await new Promise((r) => setTimeout(r, data.ms));
    return data.ms;
  },
  doomed(_data, ctx) {
    started(ctx);
    throw new Error("doomed to fail");
  },
};
