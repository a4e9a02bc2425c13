/**
 * Scenario 1, end-to-end throughput. Per system: a producer submits a batch alone, then the workers
 * drain that backlog (which side is slow); then a second batch is submitted while the same workers
 * drain it, from first submit to last stored outcome. A few outcomes of that batch are then read
 * back the way a user would query them.
 */
import { produce, Workers } from "../measure.ts";
import { fmt, type Row } from "../results.ts";
import type { Session } from "../session.ts";
import { loadSystem } from "../systems/mod.ts";

export async function throughput(session: Session): Promise<Row[]> {
  const { tasks, workers, concurrency, payloadBytes } = session.sizes;
  const submit: Row = { scenario: "1 throughput", metric: "submit alone (batch, 1 process)", unit: "tasks/s", values: {}, targets: [{ op: "≥", value: 150_000 }], chart: true };
  const drain: Row = { scenario: "1 throughput", metric: `drain a backlog (${workers} workers)`, unit: "tasks/s", values: {}, chart: true };
  const e2e: Row = {
    scenario: "1 throughput",
    metric: `end-to-end (${workers} workers)`,
    unit: "tasks/s",
    values: {},
    targets: [{ op: "≥", value: 2.5, vs: "bullmq" }, { op: "≥", value: 0.8, vs: "jetstream" }],
    chart: true,
  };
  const submitBusy: Row = { scenario: "1 throughput", metric: "submit while workers drain", unit: "tasks/s", values: {} };
  const outcomes: Row = { scenario: "1 throughput", metric: "sampled outcomes read back completed", unit: "%", values: {} };

  for (const system of session.systems) {
    await session.measure(system, async (env) => {
      const batch = { system, env, payloadBytes, mode: "batch" as const, count: tasks };
      const alone = await produce(batch);
      submit.values[system] = tasks / ((alone.endedAt - alone.startedAt) / 1000);
      const group = await Workers.start(system, env, workers, concurrency);
      try {
        const drained = await group.until(tasks, 600_000);
        drain.values[system] = tasks / ((drained - group.firstStartedAt) / 1000);
        // The same workers, now warm and idle, drain while the producer submits.
        const busy = await produce(batch);
        const lastAt = await group.until(2 * tasks, 600_000);
        e2e.values[system] = tasks / ((lastAt - busy.startedAt) / 1000);
        submitBusy.values[system] = tasks / ((busy.endedAt - busy.startedAt) / 1000);
        const completed = await (await loadSystem(system)).countCompleted(env, busy.sampleIds);
        outcomes.values[system] = (100 * completed) / busy.sampleIds.length;
      } finally {
        await group.stop();
      }
    });
    console.log(`  ${system}: submit ${fmt(submit.values[system])}, drain ${fmt(drain.values[system])}, end-to-end ${fmt(e2e.values[system])} tasks/s`);
  }
  return [submit, drain, e2e, submitBusy, outcomes];
}
