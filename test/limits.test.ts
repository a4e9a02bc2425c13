/**
 * Limits across all workers (src/limits/, src/worker/limits.ts), with worker processes against a
 * real nats-server. Every handler reports its start and end on a core subject this test listens to,
 * so what runs at once is measured outside the workers.
 */
import { spawn } from "node:child_process";
import { afterEach, expect, test } from "vitest";
import { resolveConfig } from "../src/nats/config.ts";
import { readSettings } from "../src/client/settings.ts";
import { EdgeqProcess, eventually, ROOT } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";
import { maxOverlap } from "./helpers/overlap.ts";

const env = useNats({ workerTtlMs: 3000 });
const procs: EdgeqProcess[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});

interface Event {
  id: string;
  key?: string;
  phase: "start" | "end";
  at: number;
}

async function startWorkers(n: number, queue: string, limits: object, concurrency = 10): Promise<EdgeqProcess[]> {
  const started = Array.from({ length: n }, () => {
    const proc = new EdgeqProcess(spawn(process.execPath, ["--import", "tsx", "test/helpers/limits-worker.ts"], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: env.server.url, EDGEQ_LIMITS: JSON.stringify(limits), EDGEQ_QUEUES: queue, EDGEQ_CONCURRENCY: String(concurrency) },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    }));
    procs.push(proc);
    return proc;
  });
  await Promise.all(started.map((p) => p.waitFor(/ready /)));
  return started;
}

/** Records every start and end the handlers report. */
function listen(): Event[] {
  const events: Event[] = [];
  env.nc.subscribe("limits_test.runs", { callback: (_err, msg) => void events.push(msg.json<Event>()) });
  return events;
}

/** [start, end] of each run that ended, by task id. */
function runsOf(events: Event[]): [number, number][] {
  const starts = new Map<string, number>();
  const runs: [number, number][] = [];
  for (const e of events) {
    if (e.phase === "start") starts.set(e.id, e.at);
    else runs.push([starts.get(e.id)!, e.at]);
  }
  return runs;
}

const ends = (events: Event[], ids: string[]) => {
  const wanted = new Set(ids);
  return events.filter((e) => e.phase === "end" && wanted.has(e.id)).length;
};

test("a type limit of 5 across 4 worker processes: never more than 5 run at once; tasks of other types are unaffected", async () => {
  await startWorkers(4, "lim1", { types: { run: { concurrency: 5 } } });
  const events = listen();
  const queue = env.edgeq.queue("lim1");
  const limited = await queue.submitMany(Array.from({ length: 60 }, () => ({ type: "run", data: { ms: 150 } })));
  const free = await queue.submitMany(Array.from({ length: 100 }, () => ({ type: "free" })));
  const limitedIds = limited.map((t) => t.id);
  const freeIds = free.map((t) => t.id);
  await eventually(async () => ends(events, limitedIds) === 60, 90_000, "60 limited tasks to end");
  const limitedRuns = runsOf(events.filter((e) => limitedIds.includes(e.id)));
  expect(limitedRuns).toHaveLength(60);
  const most = maxOverlap(limitedRuns);
  expect(most).toBeLessThanOrEqual(5);
  // 40 slots across the workers: the limit, not the slots, held them to 5, and it was used.
  expect(most).toBeGreaterThanOrEqual(3);
  // The unlimited tasks, submitted after, were not held behind the limited backlog.
  expect(ends(events, freeIds)).toBe(100);
  const lastFree = Math.max(...events.filter((e) => e.phase === "end" && freeIds.includes(e.id)).map((e) => e.at));
  const lastLimited = Math.max(...limitedRuns.map(([, end]) => end));
  expect(lastFree).toBeLessThan(lastLimited);
  // Their records: completed at the first attempt. (A worker whose gate is full starts nothing from its
  // buffer, and may hand a delivery it cannot start back, uncounted, to another worker.)
  const freeRecords = await eventually(async () => {
    const records = await Promise.all(freeIds.map((id) => env.edgeq.tasks.get(id)));
    return records.every((r) => r?.status === "completed") ? records : null;
  }, 30_000, "the unlimited tasks' records");
  expect(freeRecords.filter((r) => r!.attempts !== 1)).toEqual([]);
  const givenBack = freeRecords.filter((r) => r!.given_back).length;
  console.log(`type limit 5: at most ${most} at once over 60 runs; 100 unlimited tasks done ${lastLimited - lastFree} ms before the limited, ${givenBack} handed back`);
}, 120_000);

test("a rate limit of 20/s across 2 worker processes holds within 10 % over 10 s", async () => {
  await startWorkers(2, "lim2", { types: { free: { rate: "20/s" } } });
  const events = listen();
  await env.edgeq.queue("lim2").submitMany(Array.from({ length: 400 }, () => ({ type: "free" })));
  await eventually(async () => {
    const starts = events.filter((e) => e.phase === "start");
    return starts.length > 0 && starts[starts.length - 1].at - starts[0].at >= 12_000;
  }, 60_000, "12 s of starts");
  const starts = events.filter((e) => e.phase === "start").map((e) => e.at).sort((a, b) => a - b);
  const from = starts[0] + 1000;
  const in10s = starts.filter((at) => at >= from && at < from + 10_000).length;
  console.log(`rate 20/s: ${in10s} starts in 10 s`);
  expect(in10s).toBeGreaterThanOrEqual(180);
  expect(in10s).toBeLessThanOrEqual(220);
  // Nor a burst: 20 and the tolerance of 2 in any one second, and a few for the jitter between a
  // start's token and its handler's report on a loaded machine.
  for (const at of starts) expect(starts.filter((t) => t >= at && t < at + 1000).length).toBeLessThanOrEqual(25);
}, 90_000);

test("per-key concurrency 1: no key runs two at once, and the keys take turns", async () => {
  await startWorkers(2, "lim3", { keys: { concurrency: 1 } }, 8);
  const events = listen();
  const keys = ["a", "b", "c", "d"];
  // In blocks: key a's whole backlog is first in the stream.
  for (const key of keys) {
    await env.edgeq.queue("lim3").submitMany(Array.from({ length: 6 }, () => ({ type: "run", data: { ms: 250, key }, key })));
  }
  await eventually(async () => events.filter((e) => e.phase === "end").length === 24, 90_000, "24 tasks to end");
  for (const key of keys) expect(maxOverlap(runsOf(events.filter((e) => e.key === key))), `key ${key}`).toBe(1);
  const order = events.filter((e) => e.phase === "start").map((e) => e.key!);
  console.log(`per-key start order: ${order.join("")}`);
  // No key waits for another's backlog: each starts its first task before any starts its third.
  const firstThird = Math.min(...keys.map((k) => order.indexOf(k, order.indexOf(k, order.indexOf(k) + 1) + 1)));
  for (const key of keys) expect(order.indexOf(key), `first start of ${key}`).toBeLessThan(firstThird);
}, 120_000);

test("a worker SIGKILLed while it holds a slot: the slot comes back within the heartbeat TTL", async () => {
  const [first] = await startWorkers(1, "lim4", { types: { run: { concurrency: 1 } } });
  const events = listen();
  const queue = env.edgeq.queue("lim4");
  const long = await queue.submit("run", { ms: 120_000 });
  await eventually(async () => events.some((e) => e.id === long.id && e.phase === "start"), 30_000, "the long task to start");
  await startWorkers(1, "lim4", { types: { run: { concurrency: 1 } } });
  const held = await queue.submit("run", { ms: 10 });
  // Held (by either worker) while the slot's holder lives.
  await new Promise((r) => setTimeout(r, 2000));
  expect(events.some((e) => e.id === held.id)).toBe(false);
  const killedAt = Date.now();
  first.kill("SIGKILL");
  // For the live worker (the dead one's deliveries come back only after the ack wait).
  const next = await queue.submit("run", { ms: 10 });
  await eventually(async () => events.some((e) => e.id === next.id && e.phase === "end"), 30_000, "the next task to run").catch((err) => {
    throw new Error(`${err.message}\n${procs.map((p) => p.output).join("\n---\n")}`);
  });
  const waited = Math.min(...events.filter((e) => e.phase === "start" && e.id !== long.id).map((e) => e.at)) - killedAt;
  console.log(`slot back ${waited} ms after the SIGKILL (heartbeat TTL 3000 ms)`);
  // The TTL, the heartbeat's last beat before it, and a recheck a second: well under 10 s.
  expect(waited).toBeLessThan(10_000);
}, 90_000);

test("limits from the environment (EDGEQ_LIMITS) and the config: checked, with errors that name what is wrong", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const settings = readSettings(env({ EDGEQ_LIMITS: '{"types": {"email.send": {"concurrency": 5, "rate": "100/s"}}, "keys": {"concurrency": 1}}' }));
  expect(settings.config).toMatchObject({ types: { "email.send": { concurrency: 5, rate: "100/s" } }, keys: { concurrency: 1 } });
  expect(resolveConfig(settings.config).types["email.send"].rate).toEqual({ count: 100, perMs: 1000 });
  expect(() => readSettings(env({ EDGEQ_LIMITS: "{nope" }))).toThrow(/EDGEQ_LIMITS: must be JSON/);
  expect(() => readSettings(env({ EDGEQ_LIMITS: '{"keys": {"rate": "fast"}}' }))).toThrow(/EDGEQ_LIMITS: keys.rate: must be <count>\/<unit>/);
  expect(() => resolveConfig({ types: { x: { concurrency: 0 } } })).toThrow(/types.x.concurrency/);
  expect(() => resolveConfig({ keys: { rate: "10/d" } })).toThrow(/keys.rate/);
});
