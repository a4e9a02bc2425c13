/**
 * The building blocks of every scenario: a group of worker processes, a producer process, and an
 * end-to-end run of one against the other.
 */
import { type Child, forkProc } from "./children.ts";
import type { ProducerJob, Progress, Timing } from "./procs/messages.ts";
import { rssMb } from "./procstat.ts";
import type { BenchEnv, SystemName } from "./systems/system.ts";

export class Workers {
  readonly #progress: Progress[];
  #peakRssMb = 0;
  #sampler: ReturnType<typeof setInterval> | undefined;

  private constructor(readonly children: Child[], sampleRss: boolean) {
    this.#progress = children.map(() => ({ settled: 0, firstStartedAt: 0, lastSettledAt: 0 }));
    children.forEach((child, i) => {
      child.onMessage = (m) => {
        if (m.kind === "progress" || m.kind === "final") this.#progress[i] = m;
      };
    });
    if (!sampleRss) return;
    this.#sampler = setInterval(() => {
      for (const child of children) {
        if (child.proc.exitCode === null && child.pid) this.#peakRssMb = Math.max(this.#peakRssMb, rssMb(child.pid));
      }
    }, 200);
  }

  /**
   * Starts `count` worker processes and waits until all are ready. `timings`: they keep every
   * task's times; `sampleRss`: their resident memory is sampled for `peakRssMb`.
   */
  static async start(
    system: SystemName,
    env: BenchEnv,
    count: number,
    concurrency: number,
    { timings = false, sampleRss = false, delayed = false, schedulerOnly = false } = {},
  ): Promise<Workers> {
    // Listening from the start: a worker can report progress before every worker is ready.
    const children = Array.from({ length: count }, () => forkProc("worker", { system, env, concurrency, timings, delayed, schedulerOnly }));
    const workers = new Workers(children, sampleRss);
    await Promise.all(workers.children.map((c) => c.next("ready")));
    return workers;
  }

  get settled(): number {
    return this.#progress.reduce((sum, p) => sum + p.settled, 0);
  }

  /** When the first task started on any worker; 0 before. */
  get firstStartedAt(): number {
    const started = this.#progress.map((p) => p.firstStartedAt).filter((t) => t > 0);
    return started.length ? Math.min(...started) : 0;
  }

  /** The largest resident memory of one worker process seen so far, if sampled. */
  get peakRssMb(): number {
    return this.#peakRssMb;
  }

  /** Waits until the workers together have settled `total` tasks; resolves with when the last one was. */
  async until(total: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.settled < total) {
      if (Date.now() > deadline) throw new Error(`workers settled ${this.settled} of ${total} tasks within ${timeoutMs} ms`);
      if (this.children.some((c) => c.proc.exitCode !== null)) throw new Error(`a worker exited after settling ${this.settled} of ${total} tasks`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return Math.max(...this.#progress.map((p) => p.lastSettledAt));
  }

  /** Stops every worker; resolves with the timings they kept. */
  async stop(): Promise<Timing[]> {
    clearInterval(this.#sampler);
    this.children.forEach((c) => c.send({ kind: "stop" }));
    const finals = await Promise.all(this.children.map((c) => c.next("final", 30_000)));
    return finals.flatMap((f) => f.timings);
  }
}

export async function produce(job: ProducerJob, timeoutMs = 600_000) {
  return await forkProc("producer", job).next("submitted", timeoutMs);
}

/** Workers drain while one producer submits `count` tasks in a batch; tasks per second from first submit to last outcome. */
export async function endToEnd(system: SystemName, env: BenchEnv, opts: { count: number; workers: number; concurrency: number; payloadBytes: number }): Promise<number> {
  const workers = await Workers.start(system, env, opts.workers, opts.concurrency);
  try {
    const sub = await produce({ system, env, payloadBytes: opts.payloadBytes, mode: "batch", count: opts.count });
    const lastAt = await workers.until(opts.count, 600_000);
    return opts.count / ((lastAt - sub.startedAt) / 1000);
  } finally {
    await workers.stop();
  }
}
