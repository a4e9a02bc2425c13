/**
 * Scenario 6's scale measurement, for edgeq alone: `delayedHeld` delayed tasks submitted to be due
 * at one moment, with a scheduler process and no worker. While they are stored, the scheduler's
 * resident memory is sampled beside the count held, so that memory at a tenth held can be compared
 * with memory at all held (flat: the scheduler holds one batch, the server the rest). Once due, tasks
 * per second from the due time until the work stream holds them all: the promotion rate alone, with
 * no run sharing the cores. (BullMQ promotes delayed jobs inside its workers, so it has no such
 * process to measure apart.)
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { DELAYED_STREAM, WORK_STREAM } from "../../src/wire/names.ts";
import { produce, Workers } from "../measure.ts";
import { rssMb } from "../procstat.ts";
import type { Row } from "../results.ts";
import type { Session } from "../session.ts";
import { connectTo } from "../systems/nats.ts";

/** Ms per 10,000 tasks the moment they are due lies after the submission starts: time to store them all first. */
const LEAD_MS_PER_10K = 1500;
const SAMPLE_MS = 250;

export async function delayedHeld(session: Session, scenario: string): Promise<Row[]> {
  const { payloadBytes, delayedHeld: count } = session.sizes;
  const n = count.toLocaleString("en-US");
  const rssTenth: Row = { scenario, metric: `scheduler RSS, a tenth of ${n} delayed held`, unit: "MB", values: {} };
  const rssAll: Row = { scenario, metric: `scheduler RSS, all ${n} delayed held`, unit: "MB", values: {} };
  const rssPromoting: Row = { scenario, metric: `scheduler RSS, peak while promoting ${n}`, unit: "MB", values: {} };
  const rate: Row = {
    scenario,
    metric: `${n} due at once: promoted per second (no workers)`,
    unit: "tasks/s",
    values: {},
    targets: [{ op: "≥", value: 20_000 }],
  };
  if (!session.systems.includes("edgeq")) return [];
  await session.measure("edgeq", async (env) => {
    const nc = await connectTo(env);
    const jsm = await jetstreamManager(nc);
    const scheduler = await Workers.start("edgeq", env, 1, 0, { schedulerOnly: true });
    const pid = scheduler.children[0].pid;
    try {
      const dueInMs = 2000 + Math.ceil(count / 10_000) * LEAD_MS_PER_10K;
      const producer = produce({ system: "edgeq", env, payloadBytes, mode: "delayed", count, dueInMs, spreadMs: 0 });
      let submitted: Awaited<typeof producer> | undefined;
      void producer.then((s) => (submitted = s));
      while (!submitted) {
        const held = (await jsm.streams.info(DELAYED_STREAM)).state.messages;
        if (held >= count / 10 && rssTenth.values.edgeq === undefined) rssTenth.values.edgeq = rssMb(pid);
        await new Promise((r) => setTimeout(r, SAMPLE_MS));
      }
      rssAll.values.edgeq = rssMb(pid);
      const dueAt = submitted.startedAt + dueInMs;
      if (submitted.endedAt > dueAt) console.warn(`  the submission ended ${Math.round(submitted.endedAt - dueAt)} ms after the tasks were due: the rate counts from the due time`);
      let peak = 0;
      for (;;) {
        peak = Math.max(peak, rssMb(pid));
        if ((await jsm.streams.info(WORK_STREAM)).state.messages >= count) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      rate.values.edgeq = count / ((Date.now() - dueAt) / 1000);
      rssPromoting.values.edgeq = peak;
    } finally {
      await scheduler.stop();
      await nc.close();
    }
  });
  console.log(
    `  edgeq: ${n} held, scheduler RSS ${rssTenth.values.edgeq?.toFixed(1)} MB at a tenth, ${rssAll.values.edgeq?.toFixed(1)} MB at all, ` +
      `${rssPromoting.values.edgeq?.toFixed(1)} MB promoting; promoted ${rate.values.edgeq?.toFixed(0)} tasks/s`,
  );
  return [rssTenth, rssAll, rssPromoting, rate];
}
