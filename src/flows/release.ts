/**
 * Releasing what waits on a task once it has its final outcome (or on a flow's gate once the flow is
 * committed). For each child listed under the parent's link (links.ts), its record is read and
 * written at the revision read:
 *
 * - a child still waiting on this parent drops it from `waiting_on`; once nothing is left, its work
 *   message is published under its task id (`Nats-Msg-Id`), with `Edgeq-Record-Revision` so that
 *   its worker reads the record (and the parents' results) before it runs;
 * - a parent that ended other than `completed` fails the child (`failed`, error
 *   `dependency_failed: …` naming the parent) unless it runs anyway, and that failure is released
 *   in turn to the child's own children;
 * - a child no longer waiting on it (applied already) is left, except that one ready but whose
 *   message may not have gone out is published again when the work stream does not hold it, and one
 *   that ended unrun has its own children released again.
 *
 * So a release repeated after a crash (the parent's redelivery, the sweeper) finishes what the
 * first one began and changes nothing else. Then the link is removed, if nobody added to it.
 */
import type { Edgeq } from "../client/mod.ts";
import {
  dependentsKey,
  encodeTask,
  FINAL_STATUSES,
  flowGateKey,
  HEADER_HAS_DEPENDENTS,
  HEADER_RECORD_REVISION,
  headerLines,
  pendingSubject,
  type TaskRecord,
  type TaskStatus,
  WORK_STREAM,
} from "../wire/mod.ts";
import { emitSubmitted } from "../events/emit.ts";
import { inLanes } from "../nats/mod.ts";
import type { Links } from "./links.ts";

/** Children released at once. */
const WIDTH = 64;
/** Reads and writes of one child before giving up on a record that keeps changing. */
const TRIES = 50;

/** How a flow's gate appears in its first tasks' `waiting_on`: not a task id (`:` is not in one). */
export function gateRef(flowId: string): string {
  return `flow:${flowId}`;
}

/** The error of a task failed because a parent did not complete. */
export function dependencyError(parent: string, status: TaskStatus): string {
  return `dependency_failed: ${parent.startsWith("flow:") ? parent : `parent ${parent}`} ended ${status}`;
}

export class Releaser {
  constructor(
    private readonly edgeq: Edgeq,
    private readonly links: Links,
  ) {}

  /** Releases what waits on task `parent.id`, which has its final outcome. */
  released(parent: TaskRecord): Promise<void> {
    return this.#release(dependentsKey(parent.id), parent.id, parent.status);
  }

  /** Releases a committed flow's first tasks. */
  releaseGate(flowId: string): Promise<void> {
    return this.#release(flowGateKey(flowId), gateRef(flowId), "completed");
  }

  async #release(key: string, parent: string, status: TaskStatus): Promise<void> {
    const found = await this.links.get(key);
    if (!found) return;
    const { children } = found.link;
    await inLanes(children.length, WIDTH, (i) => this.#apply(children[i], parent, status));
    await this.links.remove(key, found.revision);
  }

  async #apply(child: string, parent: string, status: TaskStatus): Promise<void> {
    for (let tries = 0; tries < TRIES; tries++) {
      const { record, revision } = await this.edgeq.tasks.read(child);
      if (!record || record.waiting_on === undefined || record.seq !== undefined) return;
      if (record.status !== "waiting") {
        // Ended unrun (failed by a parent, or canceled): what waits on it may not have heard.
        if (FINAL_STATUSES.includes(record.status)) await this.released(record);
        return;
      }
      if (!record.waiting_on.includes(parent)) {
        if (record.waiting_on.length === 0) await this.#publish(record, revision, true);
        return;
      }
      const now = new Date().toISOString();
      if (status !== "completed" && !record.run_anyway) {
        const failed: TaskRecord = { ...record, status: "failed", error: dependencyError(parent, status), release: undefined, finished_at: now, updated_at: now };
        if ((await this.edgeq.tasks.putIfUnchanged(failed, revision)) === null) continue;
        this.edgeq.events.emit("failed", failed, { error: failed.error });
        return this.released(failed);
      }
      const next: TaskRecord = { ...record, waiting_on: record.waiting_on.filter((p) => p !== parent), updated_at: now };
      const stored = await this.edgeq.tasks.putIfUnchanged(next, revision);
      if (stored === null) continue;
      if (next.waiting_on!.length === 0) await this.#publish(next, stored, false);
      return;
    }
    throw new Error(`task ${child}: its record kept changing while it was released; left to the next release`);
  }

  /**
   * Publishes a ready task's work message. `again`: a repeat, which the work stream may hold
   * already (its duplicate window drops a repeat within 2 minutes; this look covers later ones).
   */
  async #publish(record: TaskRecord, revision: number, again: boolean): Promise<void> {
    if (again && (await this.edgeq.jsm.streams.getMessage(WORK_STREAM, { last_by_subj: pendingSubject(record.id) }).catch(() => null))) return;
    const release = record.release ?? { backoff: "", timeout_ms: null };
    const pairs: [string, string][] = [[HEADER_RECORD_REVISION, String(revision)]];
    if (release.has_dependents) pairs.push([HEADER_HAS_DEPENDENTS, "1"]);
    // The trace context of its submission: its run is a child of that submit span.
    pairs.push(...Object.entries(release.trace ?? {}));
    const policy = { maxAttempts: record.max_attempts, backoff: release.backoff, timeoutMs: release.timeout_ms };
    const address = { id: record.id, queue: record.queue, priority: record.priority, policy, key: record.key, extraLines: headerLines(pairs) };
    const task = encodeTask(record.type, record.data, address, Infinity);
    await this.edgeq.requests.publish(task.subject, task.body, task.headers);
    emitSubmitted(this.edgeq.events, task);
  }
}
