/**
 * The runner's command line:
 *   --quick             a small version, under a minute: fewer tasks, shorter runs, no scaling
 *   --smoke             a tiny end-to-end run only, for the test that keeps the harness working
 *   --only a,b          scenarios to run: throughput, latency, http, scaling, idle, delayed (default all)
 *   --systems a,b       systems to compare: edgeq, bullmq, jetstream (default all)
 *   --tasks N           tasks per throughput measurement
 *   --rounds N          times each scenario runs, every system in each round, the first system
 *                       changing from round to round; the table gives medians (default 3; 1 quick)
 *   --out DIR           where latest.json and latest.svg go (default bench/results)
 * Environment: NATS_URL (use that server instead of starting one per measurement), REDIS_URL
 * (default redis://127.0.0.1:6379), BENCH_CPU_PROF_DIR (CPU profiles of the producer and workers),
 * EDGEQ_EVENTS=off (edgeq without its task events, to measure what they cost).
 */
import type { Sizes } from "./session.ts";
import { SYSTEM_NAMES, type SystemName } from "./systems/system.ts";

export const SCENARIO_NAMES = ["throughput", "latency", "http", "scaling", "idle", "delayed"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface Args {
  quick: boolean;
  sizes: Sizes;
  scenarios: ScenarioName[];
  systems: SystemName[];
  rounds: number;
  out: string;
}

const FULL: Sizes = {
  tasks: 50_000,
  workers: 2,
  concurrency: 50,
  payloadBytes: 100,
  latencyRate: 1000,
  latencySeconds: 20,
  latencyWarmupSeconds: 2,
  httpSeconds: 10,
  httpConnections: 50,
  scalingWorkers: [1, 2, 4, 8],
  scalingPayloads: [100, 10 * 1024, 100 * 1024],
  idleSeconds: 10,
  idleSettleSeconds: 20,
  delayedTasks: 5000,
  delayedBurst: 100_000,
};

const QUICK: Sizes = {
  ...FULL,
  tasks: 2000,
  latencyRate: 500,
  latencySeconds: 2,
  latencyWarmupSeconds: 1,
  httpSeconds: 1,
  scalingWorkers: [1, 4],
  scalingPayloads: [10 * 1024],
  idleSeconds: 2,
  idleSettleSeconds: 1,
  delayedTasks: 500,
  delayedBurst: 5000,
};

const SMOKE: Sizes = { ...QUICK, tasks: 300 };

function list<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => !allowed.includes(s as T));
  if (bad.length || !items.length) throw new Error(`${flag} takes a comma-separated list of ${allowed.join(", ")}`);
  return items as T[];
}

export function parseArgs(argv: string[]): Args {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
    return argv[i + 1];
  };
  const withValue = new Set(["--only", "--systems", "--tasks", "--rounds", "--out"]);
  const known = new Set(["--quick", "--smoke", ...withValue]);
  const unknown = argv.filter((a, i) => a.startsWith("--") && !known.has(a) && !withValue.has(argv[i - 1]));
  if (unknown.length) throw new Error(`unknown option ${unknown[0]}`);

  const smoke = argv.includes("--smoke");
  const quick = smoke || argv.includes("--quick");
  const sizes = { ...(smoke ? SMOKE : quick ? QUICK : FULL) };
  const positive = (flag: string, fallback: number) => {
    const n = Number(value(flag) ?? fallback);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer`);
    return n;
  };
  sizes.tasks = positive("--tasks", sizes.tasks);
  const rounds = positive("--rounds", quick ? 1 : 3);
  const only = value("--only");
  const systems = value("--systems");
  return {
    quick,
    sizes,
    scenarios: only
      ? list(only, SCENARIO_NAMES, "--only")
      : smoke
      ? ["throughput"]
      : SCENARIO_NAMES.filter((s) => !quick || s !== "scaling"),
    systems: systems ? list(systems, SYSTEM_NAMES, "--systems") : [...SYSTEM_NAMES],
    rounds,
    out: value("--out") ?? "bench/results",
  };
}
