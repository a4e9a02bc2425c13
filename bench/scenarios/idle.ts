/**
 * Scenario 5, idle cost: the CPU one worker process uses over `idleSeconds` with nothing to do,
 * its resident memory then, and its largest resident memory while it drains a batch alone. The
 * memory of a bench process that loads nothing but Node is given too.
 */
import { forkProc } from "../children.ts";
import { produce, Workers } from "../measure.ts";
import { cpuSeconds, rssMb } from "../procstat.ts";
import { fmt, type Row } from "../results.ts";
import type { Session } from "../session.ts";

export async function idle(session: Session): Promise<Row[]> {
  const { tasks, concurrency, payloadBytes, idleSeconds, idleSettleSeconds } = session.sizes;
  const scenario = "5 idle cost (1 worker)";
  const cpu: Row = { scenario, metric: `CPU while idle, ${idleSeconds} s`, unit: "% of a core", values: {}, targets: [{ op: "<", value: 1 }] };
  const idleRss: Row = { scenario, metric: "resident memory, idle", unit: "MB", values: {} };
  const baseRss: Row = { scenario, metric: "resident memory of Node alone (baseline)", unit: "MB", values: {} };
  const busyRss: Row = { scenario, metric: `resident memory, busy (peak over ${fmt(tasks)} tasks)`, unit: "MB", values: {}, targets: [{ op: "≤", value: 0.85, vs: "bullmq" }] };

  // One process that loads nothing, read once it has settled as the workers have: the same for every system.
  const baseline = forkProc("baseline", {});
  await baseline.next("ready");
  let baselineMb: number | undefined;
  for (const system of session.systems) {
    await session.measure(system, async (env) => {
      const group = await Workers.start(system, env, 1, concurrency, { sampleRss: true });
      try {
        const { pid } = group.children[0];
        await new Promise((r) => setTimeout(r, idleSettleSeconds * 1000));
        const before = cpuSeconds(pid);
        await new Promise((r) => setTimeout(r, idleSeconds * 1000));
        cpu.values[system] = (100 * (cpuSeconds(pid) - before)) / idleSeconds;
        idleRss.values[system] = rssMb(pid);
        baseRss.values[system] = baselineMb ??= rssMb(baseline.pid);
        await produce({ system, env, payloadBytes, mode: "batch", count: tasks });
        await group.until(tasks, 600_000);
        busyRss.values[system] = group.peakRssMb;
      } finally {
        await group.stop();
      }
    });
    console.log(`  ${system}: idle CPU ${fmt(cpu.values[system])} %, RSS idle ${fmt(idleRss.values[system])} MB, busy ${fmt(busyRss.values[system])} MB`);
  }
  baseline.kill();
  return [cpu, idleRss, busyRss, baseRss];
}
