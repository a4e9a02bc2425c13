/**
 * What a task that waited gets of its parents: `ctx.parents` (each parent's result, null for one
 * that did not complete) and `ctx.parentOutcomes` (how each ended), read from the parents' records
 * just before its handler starts. Only a run whose record has `depends_on` reads them.
 */
import type { TaskRecords } from "../tasks/mod.ts";
import type { TaskStatus } from "../wire/mod.ts";

export interface ParentOutcome {
  status: TaskStatus;
  result: unknown;
  error: string | null;
}

export interface Parents {
  results: Record<string, unknown>;
  /** Null for a parent whose record is gone (finished records are swept after the retention). */
  outcomes: Record<string, ParentOutcome | null>;
}

/** None: what a task without parents is given. */
export const NO_PARENTS: Parents = Object.freeze({ results: Object.freeze({}), outcomes: Object.freeze({}) });

export async function readParents(records: TaskRecords, ids: readonly string[]): Promise<Parents> {
  const found = await Promise.all(ids.map((id) => records.read(id)));
  const parents: Parents = { results: {}, outcomes: {} };
  ids.forEach((id, i) => {
    const record = found[i].record;
    parents.results[id] = record?.status === "completed" ? record.result : null;
    parents.outcomes[id] = record && { status: record.status, result: record.result, error: record.error };
  });
  return parents;
}
