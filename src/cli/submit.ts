/**
 * `edgeq submit <type> [data]`: one task, optionally waiting for its outcome with live progress;
 * `edgeq submit --file tasks.jsonl`: many (submit-file.ts).
 *
 * `--wait` reads the task's record whenever one of its events arrives (src/events/), and every
 * second besides, since events are at most once. The data is JSON when it parses as JSON, a string
 * otherwise.
 */
import { z } from "zod";
import type { Edgeq } from "../client/mod.ts";
import { parseInput } from "../nats/mod.ts";
import { taskKeySchema } from "../limits/limit.ts";
import { FINAL_STATUSES, prioritySchema, queueSchema, type TaskRecord, typeSchema } from "../wire/mod.ts";
import type { Command, Context, Output } from "./command.ts";
import { withEdgeq } from "./connect.ts";
import { submitFile } from "./submit-file.ts";
import { fields } from "./table.ts";
import { UsageError } from "./usage-error.ts";

/** How often the record is read when no event has come: what a missed event can cost. */
const FALLBACK_MS = 1000;

/** `500`, `500ms`, `30s`, `5m`, `2h`: a delay in ms. */
export const durationSchema = z
  .string()
  .regex(/^\d+(ms|s|m|h)?$/, "must be a whole number of ms, or with a unit: 500ms, 30s, 5m, 2h")
  .transform((s) => {
    const [, n, unit = "ms"] = /^(\d+)(ms|s|m|h)?$/.exec(s)!;
    return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms"];
  });

const flagsSchema = z.object({
  priority: prioritySchema.optional(),
  queue: queueSchema.optional(),
  delay: durationSchema.optional(),
  key: taskKeySchema.optional(),
});

export const submit: Command = {
  spec: {
    name: "submit",
    args: "<type> [data] | --file <tasks.jsonl>",
    summary: "Submits a task (data: JSON, or else a string). With --file, submits every line of a JSON Lines file, each a POST /tasks body.",
    flags: {
      priority: { type: "string", value: "p", help: "high, normal (default) or low" },
      queue: { type: "string", value: "q", help: 'the queue (default "default")' },
      delay: { type: "string", value: "t", help: "run no sooner than this from now: 500ms, 30s, 5m, 2h" },
      key: { type: "string", value: "k", help: "a tenant or user, which the workers' `keys` limits apply to" },
      wait: { type: "boolean", help: "show the task's progress live and print its outcome (exit 1 unless completed)" },
      file: { type: "string", value: "path", help: "submit each line of a JSON Lines file, with a progress bar" },
    },
    positionals: [0, 2],
    more: `examples:
  edgeq submit process "Hello Distributed Systems!" --wait
  edgeq submit sleep '{"ms": 2000}' --priority high --delay 10s
  edgeq submit --file tasks.jsonl      # lines like {"type": "process", "data": "one", "priority": "low"}`,
  },
  async run(ctx) {
    const options = ctx.check(flagsSchema);
    if (typeof ctx.flags.file === "string") {
      if (ctx.positionals.length) throw new UsageError("submit takes either <type> [data] or --file, not both", "submit");
      if (ctx.flags.wait) throw new UsageError("--wait is for one task, not --file", "submit");
      const path = ctx.flags.file;
      const text = await ctx.runtime.readTextFile(path).catch((err) => {
        throw new UsageError(`cannot read ${path}: ${(err as Error).message}`, "submit");
      });
      return withEdgeq(ctx.runtime, ctx.settings(), (edgeq) => submitFile(edgeq, text, options, ctx));
    }
    const [rawType, rawData] = ctx.positionals;
    if (rawType === undefined) throw new UsageError("submit needs a task type, or --file", "submit");
    const type = parseInput(typeSchema, rawType, "task type");
    const data = rawData === undefined ? undefined : parseData(rawData);
    return withEdgeq(ctx.runtime, ctx.settings(), async (edgeq) => {
      const task = await edgeq.queue(options.queue).submit(type, data, { priority: options.priority, delayMs: options.delay, key: options.key });
      if (!ctx.flags.wait) {
        return { json: task, text: `submitted ${task.id} (${task.type} on ${task.queue}, ${task.priority}${task.duplicate ? ", duplicate" : ""})` };
      }
      if (!ctx.json) console.log(`submitted ${task.id}; waiting for its outcome (Ctrl-C stops waiting, not the task)`);
      return waitWithProgress(edgeq, task.id, ctx);
    });
  },
};

function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Reads the record on each of its events until it is final; each change of status, attempt or progress is shown as it comes. */
async function waitWithProgress(edgeq: Edgeq, id: string, ctx: Context): Promise<Output & { exitCode: number }> {
  let wake: (() => void) | undefined;
  const subscription = edgeq.events.subscribe({ taskId: id }, () => wake?.());
  try {
    return await showUntilFinal(edgeq, id, ctx, () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FALLBACK_MS);
        wake = () => (clearTimeout(timer), resolve());
      }));
  } finally {
    subscription.close();
  }
}

async function showUntilFinal(edgeq: Edgeq, id: string, ctx: Context, next: () => Promise<void>): Promise<Output & { exitCode: number }> {
  const { terminal } = ctx.runtime;
  const live = !ctx.json && terminal.isTTY();
  let shown = "";
  for (;;) {
    const record = await edgeq.tasks.get(id).catch(() => null);
    if (record) {
      const line = statusLine(record);
      if (line !== shown && !ctx.json) {
        if (live) terminal.write(`\r\x1b[2K${line}`);
        else console.log(line);
        shown = line;
      }
      if (FINAL_STATUSES.includes(record.status)) {
        if (live) terminal.write("\n");
        const outcome = record.status === "completed" ? ["result", record.result] : ["error", record.error];
        return {
          json: record,
          // The outcome whole: it is what the user waited for.
          text: fields([["id", record.id], ["status", record.status], ["attempts", record.attempts], outcome as [string, unknown]], Infinity),
          exitCode: record.status === "completed" ? 0 : 1,
        };
      }
    }
    await next();
  }
}

function statusLine(r: TaskRecord): string {
  const progress = r.progress === undefined ? "" : typeof r.progress === "number" ? ` ${bar(r.progress)} ${r.progress}%` : ` progress ${JSON.stringify(r.progress)}`;
  const attempt = r.attempts ? ` attempt ${r.attempts}/${r.max_attempts}` : "";
  const due = r.status === "delayed" && r.run_at ? ` until ${r.run_at}` : "";
  return `${r.status}${due}${attempt}${progress}`;
}

function bar(percent: number, width = 20): string {
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}
