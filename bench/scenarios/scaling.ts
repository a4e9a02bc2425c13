/**
 * Scenario 4, scaling: end-to-end throughput with more worker processes, and with larger payloads.
 * Large payloads get fewer tasks, so that each measurement moves at most PAYLOAD_BUDGET bytes.
 */
import { endToEnd } from "../measure.ts";
import { fmt, type Row, type Target } from "../results.ts";
import type { Session } from "../session.ts";

const PAYLOAD_BUDGET = 200 * 1024 * 1024;
const PAYLOAD_TARGETS: Target[] = [{ op: "≥", value: 1.5, vs: "bullmq" }];

const size = (bytes: number) => (bytes >= 1024 ? `${Math.round(bytes / 1024)} KiB` : `${bytes} B`);
const withWorkers = (workers: number) => `end-to-end, ${workers} worker${workers > 1 ? "s" : ""}`;

/** edgeq against itself with one worker: two must beat it, more must not lose to it. */
function workerTargets(workers: number): Target[] {
  if (workers === 1) return [];
  return [{ op: workers === 2 ? ">" : "≥", value: 1, vs: { row: withWorkers(1) } }];
}

export async function scaling(session: Session): Promise<Row[]> {
  const { tasks, workers: defaultWorkers, concurrency, payloadBytes, scalingWorkers, scalingPayloads } = session.sizes;
  const runs = [
    ...scalingWorkers.map((workers) => ({ metric: withWorkers(workers), workers, bytes: payloadBytes, targets: workerTargets(workers) })),
    // The default payload with the default workers is already a row above.
    ...scalingPayloads.filter((bytes) => bytes !== payloadBytes || !scalingWorkers.includes(defaultWorkers))
      .map((bytes) => ({ metric: `end-to-end, ${size(bytes)} payload`, workers: defaultWorkers, bytes, targets: PAYLOAD_TARGETS })),
  ];
  const rows: Row[] = [];
  for (const run of runs) {
    const count = Math.min(tasks, Math.floor(PAYLOAD_BUDGET / run.bytes));
    const row: Row = { scenario: "4 scaling", metric: `${run.metric} (${fmt(count)} tasks)`, unit: "tasks/s", values: {}, targets: run.targets, chart: true };
    for (const system of session.systems) {
      await session.measure(system, async (env) => {
        row.values[system] = await endToEnd(system, env, { count, workers: run.workers, concurrency, payloadBytes: run.bytes });
      });
    }
    console.log(`  ${row.metric}: ${session.systems.map((s) => `${s} ${fmt(row.values[s])}`).join(", ")} tasks/s`);
    rows.push(row);
  }
  return rows;
}
