/** `edgeq tasks` (newest first, as GET /tasks) and `edgeq task <id>` (as GET /tasks/:id), as tables. */
import { listQuerySchema } from "../api/schemas.ts";
import { NotFoundError } from "../wire/mod.ts";
import type { Command } from "./command.ts";
import { withEdgeq } from "./connect.ts";
import { ago, fields, short, table } from "./table.ts";

export const tasks: Command = {
  spec: {
    name: "tasks",
    args: "",
    summary: "Lists tasks, newest first.",
    flags: {
      status: { type: "string", value: "s", help: "delayed, pending, running, completed, failed, dead or canceled" },
      limit: { type: "string", value: "n", help: "at most this many (default 50, up to 1000)" },
    },
    positionals: [0, 0],
  },
  async run(ctx) {
    const { status, limit } = ctx.check(listQuerySchema);
    return withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
      const list = await edgeq.tasks.list({ status, limit });
      const rows = list.map((t) => [t.id, t.type, t.queue, t.priority, t.status, t.attempts, ago(t.created_at), short(t.status === "completed" ? t.result : t.error ?? t.data, 30)]);
      return { json: list, text: table(["id", "type", "queue", "priority", "status", "attempts", "created", "result / error / data"], rows) };
    });
  },
};

export const task: Command = {
  spec: { name: "task", args: "<id>", summary: "One task: status, attempts, progress, result or error.", flags: {}, positionals: [1, 1] },
  run: (ctx) =>
    withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
      const [id] = ctx.positionals;
      const record = await edgeq.tasks.get(id);
      if (!record) throw new NotFoundError(`no task ${id}`);
      const { history, ...rest } = record;
      const attempts = history?.length
        ? `\n\nattempts:\n${table(["#", "worker", "started", "finished", "error"], history.map((a) => [a.attempt, a.worker_id, a.started_at, a.finished_at, short(a.error, 50)]))}`
        : "";
      return { json: record, text: fields(Object.entries(rest)) + attempts };
    }),
};
