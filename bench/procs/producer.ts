/**
 * A producer process: submits tasks to one system, in one batch or at a fixed rate, reports when
 * it started and finished, and exits.
 */
import { loadSystem } from "../systems/mod.ts";
import { now, payload } from "../systems/system.ts";
import { job, type ProducerJob, send } from "./messages.ts";

/** Ids handed back for the runner to check that their outcomes are recorded. */
const SAMPLE = 20;
/** Rate mode submits what is due every tick, each task on its own as independent clients would. */
const TICK_MS = 5;

const work = job<ProducerJob>();
const { system, env, payloadBytes } = work;
const producer = await (await loadSystem(system)).producer(env);
let ids: string[] = [];
let failed = 0;

// A batch is built before the clock starts: the rate is the submission's alone.
const batch = work.mode === "rate" ? [] : Array.from({ length: work.count }, () => payload(payloadBytes));
const startedAt = now();
if (work.mode === "batch") {
  ids = await producer.submitMany(batch);
} else if (work.mode === "delayed") {
  if (!producer.submitDelayed) throw new Error(`${system} has no delayed tasks`);
  batch.forEach((p, i) => (p.sentAt = startedAt + work.dueInMs + (work.count > 1 ? (i * work.spreadMs) / (work.count - 1) : 0)));
  ids = await producer.submitDelayed(batch);
} else {
  const { rate, seconds } = work;
  const total = Math.round(rate * seconds);
  const pending: Promise<void>[] = [];
  let due = 0;
  while (due < total) {
    due = Math.min(total, Math.floor(((now() - startedAt) * rate) / 1000) + 1);
    while (pending.length < due) {
      pending.push(producer.submit(payload(payloadBytes)).then((id) => void ids.push(id), () => void failed++));
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  await Promise.all(pending);
}
const endedAt = now();

const sampled = Math.min(SAMPLE, ids.length);
const sampleIds = Array.from({ length: sampled }, (_, i) => ids[Math.floor((i * ids.length) / sampled)]);
await send({ kind: "submitted", startedAt, endedAt, submitted: ids.length, failed, sampleIds });
await producer.close();
process.exit(0);
