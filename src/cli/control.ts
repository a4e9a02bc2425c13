/**
 * Controlling and listing from the command line, as the API's routes do:
 *
 *   edgeq cancel <id> | --all [--queue q] [--type t] [--status s] [--limit n]   POST /tasks/:id/cancel, /tasks/cancel
 *   edgeq pause <queue> / edgeq resume <queue>                                  POST /queues/:name/pause, /resume
 *   edgeq queues / edgeq schedules / edgeq workers                              GET /queues, /schedules, /workers
 */
import { z } from "zod";
import { parseInput } from "../nats/mod.ts";
import { PRIORITIES, queueSchema, typeSchema } from "../wire/mod.ts";
import { limitSchema } from "../tasks/mod.ts";
import type { Command } from "./command.ts";
import { withEdgeq } from "./connect.ts";
import { ago, table } from "./table.ts";
import { UsageError } from "./usage-error.ts";

const filterSchema = z.object({
  queue: queueSchema.optional(),
  type: typeSchema.optional(),
  status: z.enum(["pending", "running"], { error: "must be pending or running" }).optional(),
  limit: limitSchema,
});

export const cancel: Command = {
  spec: {
    name: "cancel",
    args: "[id]",
    summary: "Cancels a task, pending, delayed or running (its handler's ctx.signal aborts); with --all, the unfinished tasks the filters pick.",
    flags: {
      all: { type: "boolean", help: "cancel every unfinished task the filters pick, up to --limit" },
      queue: { type: "string", value: "q", help: "--all: only this queue" },
      type: { type: "string", value: "t", help: "--all: only this task type" },
      status: { type: "string", value: "s", help: "--all: pending or running" },
      limit: { type: "string", value: "n", help: "--all: at most this many (default 50, up to 1000)" },
    },
    positionals: [0, 1],
  },
  async run(ctx) {
    const filter = ctx.check(filterSchema);
    const [id] = ctx.positionals;
    if ((ctx.flags.all === true) === (id !== undefined)) throw new UsageError("cancel needs a task id or --all, not both", "cancel");
    return withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
      if (id !== undefined) {
        const record = await edgeq.tasks.cancel(id);
        return { json: record, text: `canceled ${record.id}` };
      }
      const canceled = await edgeq.tasks.cancelMany(filter);
      return { json: { canceled }, text: `canceled ${canceled} tasks` };
    });
  },
};

function pauseOrResume(name: "pause" | "resume"): Command {
  return {
    spec: {
      name,
      args: "<queue>",
      summary: name === "pause"
        ? "Pauses a queue on every worker: submissions are still accepted, no task of it starts until it is resumed."
        : "Resumes a paused queue on every worker.",
      flags: {},
      positionals: [1, 1],
    },
    async run(ctx) {
      const queue = parseInput(queueSchema, ctx.positionals[0], "queue name");
      return withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
        const state = await edgeq.queues[name](queue);
        return { json: { queue, ...state }, text: `queue ${queue} ${state.paused ? `paused since ${state.paused_at}` : "running"}` };
      });
    },
  };
}

export const pause = pauseOrResume("pause");
export const resume = pauseOrResume("resume");

export const queues: Command = {
  spec: { name: "queues", args: "", summary: "Every queue: paused or not, pending tasks per priority, running tasks.", flags: {}, positionals: [0, 0] },
  run: (ctx) =>
    withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
      const list = await edgeq.queues.list();
      const rows = list.map((q) => [q.name, q.paused ? `paused ${ago(q.paused_at)}` : "running", ...PRIORITIES.map((p) => q.pending[p]), q.running, q.unserved_types.join(", ")]);
      return { json: list, text: table(["queue", "state", ...PRIORITIES.map((p) => `pending ${p}`), "running", "unserved types"], rows) };
    }),
};

export const schedules: Command = {
  spec: { name: "schedules", args: "", summary: "Every recurring task, with its next run.", flags: {}, positionals: [0, 0] },
  run: (ctx) =>
    withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
      const list = await edgeq.schedules.list();
      const rows = list.map((s) => [s.name, s.cron, s.tz, s.type, s.queue, s.priority, s.paused ? "paused" : "active", s.next_run ?? ""]);
      return { json: list, text: table(["name", "cron", "tz", "type", "queue", "priority", "state", "next run"], rows) };
    }),
};

export const workers: Command = {
  spec: { name: "workers", args: "", summary: "Live workers, from their heartbeats.", flags: {}, positionals: [0, 0] },
  run: (ctx) =>
    withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
      const list = await edgeq.workers();
      const rows = list.map((w) => [w.id, w.runtime, w.host, w.queues.join(","), `${w.in_flight}/${w.concurrency}`, w.processed, w.failed, ago(w.last_heartbeat)]);
      return { json: list, text: table(["worker", "runtime", "host", "queues", "in flight", "processed", "failed", "last beat"], rows) };
    }),
};
