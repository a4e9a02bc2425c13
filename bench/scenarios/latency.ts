/**
 * Scenario 2, latency at a fixed rate: one producer submits one task at a time at `latencyRate` a
 * second; each task carries its submit time, and the workers note when its handler started and
 * when its outcome was stored. All on one machine, so the processes' clocks agree.
 *
 * The first `latencyWarmupSeconds` are a warm-up, the same for every system: in them, every process
 * is still compiling its hot code, which set the p99 of a 20 s run by itself (edgeq's 11.3 ms
 * counting them, 5.4 ms without). The rows give the steady state after it; one more row gives the
 * warm-up's own p99, so that the cost of a cold start stays in view.
 */
import { produce, Workers } from "../measure.ts";
import { percentiles } from "../percentiles.ts";
import type { Row, Target } from "../results.ts";
import type { Session } from "../session.ts";

const PS = [50, 95, 99, 100];
const LABELS = ["p50", "p95", "p99", "max"];
/** Submit to start: p50 in ms, p99 against BullMQ's. */
const START_TARGETS: Record<string, Target[]> = { p50: [{ op: "≤", value: 1 }], p99: [{ op: "≤", value: 1, vs: "bullmq" }] };

export async function latency(session: Session): Promise<Row[]> {
  const { workers, concurrency, payloadBytes, latencyRate: rate, latencySeconds: seconds, latencyWarmupSeconds: warmup } = session.sizes;
  const scenario = `2 latency @ ${rate}/s`;
  const rows = (what: string, targets: Record<string, Target[]> = {}): Row[] =>
    LABELS.map((p) => ({
      scenario,
      metric: `submit to ${what} ${p}`,
      unit: "ms",
      values: {},
      targets: targets[p],
    }));
  const start = rows("start", START_TARGETS);
  const finish = rows("outcome stored");
  const cold: Row = { scenario, metric: `submit to start p99, first ${warmup} s (warm-up, not in the rows above)`, unit: "ms", values: {} };
  const achieved: Row = { scenario, metric: "tasks submitted per second", unit: "tasks/s", values: {} };

  for (const system of session.systems) {
    await session.measure(system, async (env) => {
      const group = await Workers.start(system, env, workers, concurrency, { timings: true });
      let timings;
      let warmEnd = 0;
      try {
        const sub = await produce({ system, env, payloadBytes, mode: "rate", rate, seconds: warmup + seconds });
        if (sub.failed) throw new Error(`${system}: ${sub.failed} submissions failed`);
        achieved.values[system] = sub.submitted / ((sub.endedAt - sub.startedAt) / 1000);
        warmEnd = sub.startedAt + warmup * 1000;
        await group.until(sub.submitted, 120_000);
      } finally {
        timings = await group.stop();
      }
      const warm = timings.filter(([sent]) => sent >= warmEnd);
      percentiles(warm.map(([sent, started]) => started - sent), PS).forEach((v, i) => (start[i].values[system] = v));
      percentiles(warm.map(([sent, , settled]) => settled - sent), PS).forEach((v, i) => (finish[i].values[system] = v));
      cold.values[system] = percentiles(timings.filter(([sent]) => sent < warmEnd).map(([sent, started]) => started - sent), [99])[0];
    });
    console.log(`  ${system}: start p99 ${start[2].values[system]?.toFixed(1)} ms (warm-up ${cold.values[system]?.toFixed(1)} ms), outcome p99 ${finish[2].values[system]?.toFixed(1)} ms`);
  }
  return [...start, ...finish, cold, achieved];
}
