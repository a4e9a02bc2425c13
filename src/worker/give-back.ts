/**
 * Giving a delivery back, at shutdown, when the worker has no slot for it, or no handler for its
 * type: its run, if it started, is not counted. The record says `pending`, with one more delivery
 * given back, so that the next one's delivery count is read right. With NATS down there is no one to
 * tell, and a run whose lease may have lapsed may have been taken over: its -NAK would hand the
 * delivery of the run that holds it to a third. Such a message comes back after the ack wait, and
 * counts this run as one that ended without an outcome.
 */
import type { Edgeq } from "../client/mod.ts";
import { decodeTask, newRecord, resolvePolicy } from "../wire/mod.ts";
import type { Run } from "./run.ts";

/**
 * `unserved`: given back because this worker has no handler for it, so also when the record says
 * `running` (a run that died, or whose lease lapsed, since the task was delivered again): that
 * delivery is noted as given back too, or it would count toward the attempts of the run that has
 * the handler.
 */
export async function giveBack(edgeq: Edgeq, run: Run, report: (err: unknown) => void, { delayMs = 0, unserved = false } = {}): Promise<void> {
  run.returned = true;
  run.abortWith(new Error("worker shutting down"));
  await run.writing;
  if (!edgeq.connection.up || run.lapsed) return;
  const stored = await storeGivenBack(edgeq, run, unserved).catch((err) => (report(err), null));
  // Refused: another run holds the task, and our nak would hand its delivery to a third.
  if (stored !== null) run.delivery.nak(delayMs);
}

/** The record of a given-back delivery: as it was before this run, with the delivery counted as given back. */
async function storeGivenBack(edgeq: Edgeq, run: Run, unserved: boolean): Promise<number | null> {
  const now = new Date().toISOString();
  if (run.runningStored) {
    const record = run.record!;
    const back = { ...record, status: "pending" as const, attempts: record.attempts - 1, given_back: (record.given_back ?? 0) + 1, worker_id: null, updated_at: now };
    return edgeq.tasks.putIfUnchanged(back, run.revision);
  }
  // Nothing stored by this run: the record, if any, is read and noted.
  const { record, revision } = await edgeq.tasks.read(run.id);
  const seq = run.delivery.streamSeq;
  // This message's record, or a requeue's `pending` one written before it.
  if (record?.seq === seq || (record?.status === "pending" && record.seq === undefined)) {
    const noted = record.status === "pending" || (unserved && record.status === "running");
    if (!noted) return null; // settled, or held by another run
    return edgeq.tasks.putIfUnchanged({ ...record, given_back: (record.given_back ?? 0) + 1, updated_at: now }, revision);
  }
  let task;
  try {
    task = decodeTask(run.delivery.msg, run.id);
  } catch {
    return revision; // unreadable: nothing to note, the next delivery buries it
  }
  const policy = resolvePolicy(edgeq.config, task.queue, task.type, task.policy);
  const pending = newRecord(task, {
    status: "pending",
    attempts: 0,
    given_back: 1,
    max_attempts: policy.maxAttempts,
    created_at: new Date(run.delivery.storedAt).toISOString(),
    updated_at: now,
    seq,
    // A task that waited on others (src/flows/): its next run reads its parents by these.
    ...(record?.waiting_on !== undefined && record.seq === undefined && { depends_on: record.depends_on, flow: record.flow }),
  });
  return edgeq.tasks.putIfUnchanged(pending, revision, task.bodyIsJson ? task.body : undefined);
}
