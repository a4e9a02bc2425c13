/**
 * `edgeq dead …`: the dead-letter stream from the command line.
 *
 *   edgeq dead list [--queue q] [--limit n]
 *   edgeq dead show <id>
 *   edgeq dead requeue <id> | --all [--queue q]  [--max-attempts n]
 *   edgeq dead purge <id> | --all [--queue q]
 */
import { z } from "zod";
import { maxAttemptsSchema, queueSchema } from "../wire/mod.ts";
import { limitSchema } from "../tasks/mod.ts";
import { wholeNumber } from "../client/mod.ts";
import type { Command } from "./command.ts";
import { withEdgeq } from "./connect.ts";
import { ago, fields, short, table } from "./table.ts";
import { UsageError } from "./usage-error.ts";

const ACTIONS = ["list", "show", "requeue", "purge"] as const;

const flagsSchema = z.object({
  queue: queueSchema.optional(),
  limit: limitSchema,
  "max-attempts": wholeNumber(maxAttemptsSchema),
});

export const dead: Command = {
  spec: {
    name: "dead",
    args: "<list|show|requeue|purge> [id]",
    summary: "The dead-letter stream: tasks that used up their attempts, and messages no worker could read.",
    flags: {
      all: { type: "boolean", help: "requeue, purge: every dead letter (of --queue)" },
      queue: { type: "string", value: "q", help: "list, --all: only this queue" },
      limit: { type: "string", value: "n", help: "list: at most this many, newest first (default 50)" },
      "max-attempts": { type: "string", value: "n", help: "requeue: attempts the requeued task gets" },
    },
    positionals: [1, 2],
    more: "  dead list                  list dead letters, newest first\n  dead show <id>             one dead letter, with its history\n  dead requeue <id> | --all  run dead tasks again (fresh attempts)\n  dead purge <id> | --all    delete dead letters for good",
  },
  async run(ctx) {
    const [action, id] = ctx.positionals;
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`dead needs ${ACTIONS.join(", ")}; got "${action}"`, "dead");
    const { queue, limit, "max-attempts": maxAttempts } = ctx.check(flagsSchema);
    const all = ctx.flags.all === true;
    if ((action === "requeue" || action === "purge") && all === (id !== undefined)) {
      throw new UsageError(`dead ${action} needs a task id or --all, not both`, "dead");
    }
    if (action === "show" && !id) throw new UsageError("dead show needs a task id", "dead");
    return withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
      const letters = edgeq.deadLetters;
      switch (action) {
        case "list": {
          const list = await letters.list({ queue, limit });
          const rows = list.map((d) => [d.id, d.queue, d.type, d.attempts, short(d.reason, 50), ago(d.dead_at)]);
          return { json: list, text: table(["task", "queue", "type", "attempts", "reason", "dead"], rows) };
        }
        case "show": {
          const letter = await letters.get(id);
          return { json: letter, text: fields(Object.entries(letter)) };
        }
        case "requeue": {
          if (id) {
            const record = await letters.requeue(id, { maxAttempts });
            return { json: record, text: `requeued ${record.id}` };
          }
          const requeued = await letters.requeueAll({ queue, maxAttempts });
          return { json: { requeued }, text: `requeued ${requeued} dead letters` };
        }
        default: {
          if (id) return (await letters.purge(id), { json: { purged: [id] }, text: `purged ${id}` });
          const purged = await letters.purgeAll({ queue });
          return { json: { purged }, text: `purged ${purged} dead letters` };
        }
      }
    });
  },
};
