/**
 * `edgeq top`: a live view of the queue, redrawn every --interval: completions and failures per
 * second (the change of /health's counts between two looks), queue depths per priority, and the
 * workers. q or Ctrl-C leaves; `--once` prints a single frame (two looks, one interval apart) and
 * exits, for scripts and tests.
 */
import { z } from "zod";
import type { Edgeq, Health, QueueSummary } from "../client/mod.ts";
import { PRIORITIES } from "../wire/mod.ts";
import type { WorkerInfo } from "../worker/mod.ts";
import type { Command } from "./command.ts";
import { disconnect, open } from "./connect.ts";
import { durationSchema } from "./submit.ts";
import { ago, table } from "./table.ts";

interface Look {
  at: number;
  health: Health;
  queues: QueueSummary[];
  workers: WorkerInfo[];
}

interface Frame {
  at: string;
  completed_per_s: number;
  failed_per_s: number;
  health: Health;
  queues: QueueSummary[];
  workers: WorkerInfo[];
}

export const top: Command = {
  spec: {
    name: "top",
    args: "",
    summary: "A live view: completed and failed per second, queue depths, workers. q or Ctrl-C quits.",
    flags: {
      interval: { type: "string", value: "t", help: "time between frames: 500ms, 2s (default 1s)" },
      once: { type: "boolean", help: "print one frame and exit" },
    },
    positionals: [0, 0],
  },
  async run(ctx) {
    const { interval } = ctx.check(z.object({ interval: durationSchema.optional().transform((ms) => Math.max(200, ms ?? 1000)) }));
    const settings = ctx.settings();
    const edgeq = await open(ctx.runtime, settings);
    const sleep = () => new Promise((r) => setTimeout(r, interval));
    let previous = await look(edgeq);
    if (ctx.flags.once) {
      try {
        await sleep();
        const frame = frameOf(previous, await look(edgeq));
        return { json: frame, text: render(frame) };
      } finally {
        await disconnect(edgeq);
      }
    }
    const { terminal } = ctx.runtime;
    let running = true;
    const quit = () => (running = false);
    const restore = terminal.onKey((key) => (key === "q" || key === "\u0003") && quit());
    ctx.runtime.onShutdown(quit);
    try {
      while (running) {
        await sleep();
        if (!running) break;
        const current = await look(edgeq);
        const frame = frameOf(previous, current);
        previous = current;
        if (ctx.json) console.log(JSON.stringify(frame));
        else terminal.write(`\x1b[H\x1b[2J${render(frame)}\n\n(q quits)\n`);
      }
    } finally {
      restore();
      await disconnect(edgeq);
    }
    ctx.runtime.exit(0);
  },
};

async function look(edgeq: Edgeq): Promise<Look> {
  const [health, queues, workers] = await Promise.all([edgeq.health(), edgeq.queues.list(), edgeq.workers()]);
  return { at: Date.now(), health, queues, workers };
}

function frameOf(before: Look, now: Look): Frame {
  const seconds = Math.max(0.001, (now.at - before.at) / 1000);
  const rate = (key: "completed_tasks" | "failed_tasks") => Math.max(0, Math.round(((now.health[key] - before.health[key]) / seconds) * 10) / 10);
  return {
    at: new Date(now.at).toISOString(),
    completed_per_s: rate("completed_tasks"),
    failed_per_s: rate("failed_tasks"),
    health: now.health,
    queues: now.queues,
    workers: now.workers,
  };
}

function render(f: Frame): string {
  const h = f.health;
  return [
    `edgeq top — ${f.at}   ${h.status}`,
    `completed ${f.completed_per_s}/s   failed ${f.failed_per_s}/s   pending ${h.pending_tasks}   running ${h.running_tasks}   dead ${h.dead_tasks}   workers ${h.workers}`,
    "",
    table(
      ["queue", "state", ...PRIORITIES.map((p) => `pending ${p}`), "running"],
      f.queues.map((q) => [q.name, q.paused ? "paused" : "running", ...PRIORITIES.map((p) => q.pending[p]), q.running]),
    ),
    "",
    f.workers.length === 0 ? "no live workers" : table(
      ["worker", "runtime", "host", "in flight", "processed", "failed", "last beat"],
      f.workers.map((w) => [w.id, w.runtime, w.host, `${w.in_flight}/${w.concurrency}`, w.processed, w.failed, ago(w.last_heartbeat)]),
    ),
  ].join("\n");
}
