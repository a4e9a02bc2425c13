/**
 * Controlling tasks and queues from the command line, as the API's routes do:
 *
 *   edgeq cancel <id>                                        POST /tasks/:id/cancel
 *   edgeq cancel --all [--queue q] [--type t] [--status s]   POST /tasks/cancel
 *   edgeq pause <queue> / edgeq resume <queue>               POST /queues/:name/pause, /resume
 *   edgeq queues                                             GET /queues
 *   edgeq schedules                                          GET /schedules
 */
import type { CancelFilter } from "./cancel.ts";
import type { Edgeq } from "./client.ts";
import { parseInput } from "./config.ts";
import { EdgeqError } from "./errors.ts";
import { queueSchema } from "./message.ts";

export const CONTROL_NAMES = ["cancel", "pause", "resume", "queues", "schedules"] as const;

export const CONTROL_USAGE = `  cancel <id>                                           cancel a task, pending or running
  cancel --all [--queue q] [--type t] [--status pending|running] [--limit n]
                                                        cancel up to n unfinished tasks (default 50)
  pause <queue> / resume <queue>                        stop and restart starting its tasks, on every worker
  queues                                                every queue: paused, pending per priority, running
  schedules                                             every recurring task, with its next run`;

export interface ControlCommand extends CancelFilter {
  name: (typeof CONTROL_NAMES)[number];
  /** The task id (cancel) or queue name (pause, resume). */
  target?: string;
  all: boolean;
}

/** Runs one control command; resolves with what to print. */
export async function runControlCommand(edgeq: Edgeq, cmd: ControlCommand): Promise<string> {
  switch (cmd.name) {
    case "cancel":
      if (cmd.all === (cmd.target !== undefined)) throw new EdgeqError(`cancel needs a task id or --all, not both\n\n${CONTROL_USAGE}`);
      if (cmd.target !== undefined) return `canceled ${(await edgeq.tasks.cancel(cmd.target)).id}`;
      return `canceled ${await edgeq.tasks.cancelMany(cmd)} tasks`;
    case "pause":
    case "resume": {
      if (cmd.target === undefined) throw new EdgeqError(`${cmd.name} needs a queue name\n\n${CONTROL_USAGE}`);
      const queue = parseInput(queueSchema, cmd.target, "queue name");
      const state = await edgeq.queues[cmd.name](queue);
      return `queue ${queue} ${state.paused ? `paused since ${state.paused_at}` : "running"}`;
    }
    case "queues":
      return JSON.stringify(await edgeq.queues.list(), null, 2);
    case "schedules":
      return JSON.stringify(await edgeq.schedules.list(), null, 2);
  }
}
