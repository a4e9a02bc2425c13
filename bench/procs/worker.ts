/**
 * A worker process: works one system's queue with a no-op handler until the runner says stop.
 * Reports how many outcomes it has stored, and when the last one was, every PROGRESS_MS; the time
 * of the last one is exact, whatever the reporting interval.
 */
import { loadSystem } from "../systems/mod.ts";
import { now } from "../systems/system.ts";
import { job, type RunnerMessage, send, type Timing, type WorkerJob } from "./messages.ts";

const PROGRESS_MS = 100;

const { system, env, concurrency, timings, delayed, schedulerOnly } = job<WorkerJob>();
const open = new Map<string, [number, number]>();
const done: Timing[] = [];
let settled = 0;
let firstStartedAt = 0;
let lastSettledAt = 0;
let reported = 0;

const worker = await (await loadSystem(system)).worker(env, concurrency, {
  started(id, payload) {
    firstStartedAt ||= now();
    if (timings) open.set(id, [payload.sentAt, now()]);
  },
  settled(id) {
    settled++;
    lastSettledAt = now();
    const started = open.get(id);
    if (started) {
      open.delete(id);
      done.push([started[0], started[1], lastSettledAt]);
    }
  },
}, { delayed, schedulerOnly });

const timer = setInterval(() => {
  if (settled === reported) return;
  reported = settled;
  void send({ kind: "progress", settled, firstStartedAt, lastSettledAt });
}, PROGRESS_MS);

process.on("message", async (message: RunnerMessage) => {
  if (message.kind !== "stop") return;
  clearInterval(timer);
  await worker.close();
  await send({ kind: "final", settled, firstStartedAt, lastSettledAt, timings: done });
  process.exit(0);
});
await send({ kind: "ready" });
