/**
 * Scenario 6, delayed tasks, for the systems that have them (the ceiling, raw JetStream 2.9, has
 * none). Lateness: `delayedTasks` tasks due over 5 s, from 2 s after they are submitted; each task's
 * data carries its due time, and the workers note when its handler started. A burst:
 * `delayedBurst` tasks all due at the same moment, far enough ahead for all to be stored first;
 * from that moment to the last outcome stored, tasks per second, which bounds how fast the system
 * makes them due (it also includes running them).
 */
import { produce, Workers } from "../measure.ts";
import { percentiles } from "../percentiles.ts";
import type { Row } from "../results.ts";
import type { Session } from "../session.ts";
import { delayedHeld } from "./delayed-held.ts";

/** Ms per 10,000 tasks the burst is due after its submission starts: time to store them all first. */
const BURST_LEAD_MS_PER_10K = 600;

export async function delayed(session: Session): Promise<Row[]> {
  const { workers, concurrency, payloadBytes, delayedTasks, delayedBurst } = session.sizes;
  const scenario = "6 delayed tasks";
  const late = ["p50", "p99", "max"].map((p): Row => ({
    scenario,
    metric: `lateness ${p} (${delayedTasks.toLocaleString("en-US")} tasks due over 5 s)`,
    unit: "ms",
    values: {},
    targets: p === "p50" ? [{ op: "≤", value: 50 }] : p === "p99" ? [{ op: "≤", value: 250 }] : undefined,
  }));
  const early: Row = { scenario, metric: "started before their due time", unit: "count", values: {} };
  const burst: Row = {
    scenario,
    metric: `${delayedBurst.toLocaleString("en-US")} due at once: due to last outcome stored`,
    unit: "tasks/s",
    values: {},
    targets: [{ op: "≥", value: 20_000 }],
  };
  for (const system of session.systems) {
    // The ceiling, raw JetStream on 2.9, has no delayed tasks.
    if (system === "jetstream") continue;
    await session.measure(system, async (env) => {
      const group = await Workers.start(system, env, workers, concurrency, { timings: true, delayed: true });
      let timings;
      try {
        const sub = await produce({ system, env, payloadBytes, mode: "delayed", count: delayedTasks, dueInMs: 2000, spreadMs: 5000 });
        await group.until(sub.submitted, 60_000);
      } finally {
        timings = await group.stop();
      }
      const lateness = timings.map(([due, started]) => started - due);
      percentiles(lateness, [50, 99, 100]).forEach((v, i) => (late[i].values[system] = v));
      early.values[system] = lateness.filter((ms) => ms < 0).length;
    });
    await session.measure(system, async (env) => {
      const group = await Workers.start(system, env, workers, concurrency, { delayed: true });
      try {
        const dueInMs = 2000 + Math.ceil(delayedBurst / 10_000) * BURST_LEAD_MS_PER_10K;
        const sub = await produce({ system, env, payloadBytes, mode: "delayed", count: delayedBurst, dueInMs, spreadMs: 0 });
        const lastAt = await group.until(sub.submitted, 600_000);
        burst.values[system] = delayedBurst / ((lastAt - (sub.startedAt + dueInMs)) / 1000);
      } finally {
        await group.stop();
      }
    });
    console.log(`  ${system}: lateness p50 ${late[0].values[system]?.toFixed(1)} ms, p99 ${late[1].values[system]?.toFixed(1)} ms; burst ${burst.values[system]?.toFixed(0)} tasks/s`);
  }
  return [...late, early, burst, ...(await delayedHeld(session, scenario))];
}
