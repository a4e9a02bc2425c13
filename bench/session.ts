/**
 * One benchmark run's settings and the environment of each measurement: a fresh nats-server with
 * an empty store per measurement (unless NATS_URL names one), a queue name no other measurement
 * uses, the system's topology made, and what it leaves in Redis removed afterwards.
 */
import { NatsServer } from "../test/helpers/nats-server.ts";
import { loadSystem } from "./systems/mod.ts";
import type { BenchEnv, SystemName } from "./systems/system.ts";

export interface Sizes {
  /** Tasks per throughput measurement. */
  tasks: number;
  workers: number;
  /** Tasks each worker process runs at once. */
  concurrency: number;
  /** Bytes of the "small JSON" payload. */
  payloadBytes: number;
  latencyRate: number;
  /** Measured seconds, after the warm-up. */
  latencySeconds: number;
  /** Seconds submitted at the rate before the measured ones: the processes compile their hot code then. */
  latencyWarmupSeconds: number;
  httpSeconds: number;
  httpConnections: number;
  scalingWorkers: number[];
  scalingPayloads: number[];
  idleSeconds: number;
  /** Time a fresh worker gets to finish starting (compiling, connecting) before it counts as idle. */
  idleSettleSeconds: number;
  /** Delayed tasks whose lateness is measured, and tasks of the burst due at once. */
  delayedTasks: number;
  delayedBurst: number;
  /** Delayed tasks held at once, then all due together: the scheduler's memory and promotion rate. */
  delayedHeld: number;
}

export class Session {
  readonly #runId = Math.random().toString(36).slice(2, 8);
  /** Where `systems` starts this round. */
  #first = 0;
  #measurements = 0;
  /** The server of the measurement under way, if it has one. */
  #server: NatsServer | undefined;

  constructor(
    readonly sizes: Sizes,
    private readonly allSystems: SystemName[],
    readonly redisUrl: string,
    private readonly natsUrl: string | undefined,
  ) {}

  /** The systems in this round's order: each round, a different one goes first. */
  get systems(): SystemName[] {
    return [...this.allSystems.slice(this.#first), ...this.allSystems.slice(0, this.#first)];
  }

  /** Starts round `n` (from 0). */
  round(n: number): this {
    this.#first = n % this.allSystems.length;
    return this;
  }

  /** Runs `fn` in a fresh environment for `system`, and tears the environment down whatever happens. */
  async measure<T>(system: SystemName, fn: (env: BenchEnv) => Promise<T>): Promise<T> {
    const sys = await loadSystem(system);
    const server = this.natsUrl || !sys.usesNats ? undefined : await NatsServer.start();
    this.#server = server;
    const env = { natsUrl: this.natsUrl ?? server?.url ?? "", redisUrl: this.redisUrl, queue: `b${this.#runId}_${++this.#measurements}` };
    try {
      await sys.prepare(env);
      return await fn(env);
    } finally {
      await sys.cleanup(env).catch((err) => console.error(`cleanup of ${system}: ${err}`));
      await server?.stop();
      this.#server = undefined;
    }
  }

  /** Stops the server of a measurement still running; for Ctrl-C. */
  async close(): Promise<void> {
    await this.#server?.stop();
  }
}
