/**
 * Scenario 1, end-to-end throughput. Per system, two measurements: a producer submits the batch
 * alone, then the workers drain that backlog (which side is slow); and, afresh, workers drain while
 * the producer submits (from first submit to last stored outcome). A few outcomes of the latter
 * are then read back the way a user would query them.
 */
import { endToEnd, produce, Workers } from "../measure.ts";
import { fmt, type Row } from "../results.ts";
import type { Session } from "../session.ts";
import { SYSTEMS } from "../systems/mod.ts";

export async function throughput(session: Session): Promise<Row[]> {
  const { tasks, workers, concurrency, payloadBytes } = session.sizes;
  const submit: Row = { scenario: "1 throughput", metric: "submit alone (batch, 1 process)", unit: "tasks/s", values: {}, target: { kind: "at-least", value: 100_000 }, chart: true };
  const drain: Row = { scenario: "1 throughput", metric: `drain a backlog (${workers} workers)`, unit: "tasks/s", values: {}, chart: true };
  const e2e: Row = { scenario: "1 throughput", metric: `end-to-end (${workers} workers)`, unit: "tasks/s", values: {}, target: { kind: "at-least-times", vs: "bullmq", value: 2 }, chart: true };
  const submitBusy: Row = { scenario: "1 throughput", metric: "submit while workers drain", unit: "tasks/s", values: {} };
  const outcomes: Row = { scenario: "1 throughput", metric: "sampled outcomes read back completed", unit: "%", values: {} };

  for (const system of session.systems) {
    await session.measure(system, async (env) => {
      const sub = await produce({ system, env, payloadBytes, mode: "batch", count: tasks, rate: 0, seconds: 0 });
      submit.values[system] = tasks / ((sub.endedAt - sub.startedAt) / 1000);
      const group = await Workers.start(system, env, workers, concurrency);
      try {
        const lastAt = await group.until(tasks, 600_000);
        drain.values[system] = tasks / ((lastAt - group.firstStartedAt) / 1000);
      } finally {
        await group.stop();
      }
    });
    await session.measure(system, async (env) => {
      const run = await endToEnd(system, env, { count: tasks, workers, concurrency, payloadBytes });
      e2e.values[system] = run.tasksPerSecond;
      submitBusy.values[system] = run.submitPerSecond;
      outcomes.values[system] = (100 * await SYSTEMS[system].countCompleted(env, run.sampleIds)) / run.sampleIds.length;
    });
    console.log(`  ${system}: submit ${fmt(submit.values[system])}, drain ${fmt(drain.values[system])}, end-to-end ${fmt(e2e.values[system])} tasks/s`);
  }
  return [submit, drain, e2e, submitBusy, outcomes];
}
