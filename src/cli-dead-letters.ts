/**
 * `edgeq dead …`: the dead-letter stream from the command line.
 *
 *   edgeq dead list [--queue q] [--limit n]
 *   edgeq dead show <id>
 *   edgeq dead requeue <id> | --all [--queue q]  [--max-attempts n]
 *   edgeq dead purge <id> | --all [--queue q]
 */
import type { Edgeq } from "./client.ts";
import { EdgeqError } from "./errors.ts";

export const DEAD_USAGE = `  dead list [--queue q] [--limit n]                     list dead letters, newest first
  dead show <id>                                        one dead letter, with its history
  dead requeue <id> | --all [--queue q] [--max-attempts n]
                                                        run dead tasks again (fresh attempts)
  dead purge <id> | --all [--queue q]                   delete dead letters for good`;

export interface DeadCommand {
  action?: string;
  id?: string;
  all: boolean;
  queue?: string;
  limit: number;
  maxAttempts?: number;
}

/** Runs one dead-letter action; resolves with what to print. */
export async function runDeadCommand(edgeq: Edgeq, cmd: DeadCommand): Promise<string> {
  const dead = edgeq.deadLetters;
  const target = () => {
    if (cmd.all === (cmd.id !== undefined)) throw new EdgeqError(`dead ${cmd.action} needs a task id or --all, not both\n\n${DEAD_USAGE}`);
  };
  switch (cmd.action) {
    case "list":
      return JSON.stringify(await dead.list({ queue: cmd.queue, limit: cmd.limit }), null, 2);
    case "show":
      if (!cmd.id) throw new EdgeqError(`dead show needs a task id\n\n${DEAD_USAGE}`);
      return JSON.stringify(await dead.get(cmd.id), null, 2);
    case "requeue":
      target();
      if (cmd.id) return `requeued ${(await dead.requeue(cmd.id, cmd)).id}`;
      return `requeued ${await dead.requeueAll(cmd)} dead letters`;
    case "purge":
      target();
      if (cmd.id) return (await dead.purge(cmd.id), `purged ${cmd.id}`);
      return `purged ${await dead.purgeAll(cmd)} dead letters`;
    default:
      throw new EdgeqError(`dead needs list, show, requeue or purge\n\n${DEAD_USAGE}`);
  }
}
