/**
 * Worker processes (`edgeq worker workers/demo.ts`) against a real nats-server: many tasks across
 * several workers, a worker killed with SIGKILL mid-task, and graceful shutdown with tasks in flight.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { consumerName, WORK_STREAM } from "../src/wire/names.ts";
import type { TaskRecord } from "../src/wire/record.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { freePort } from "./helpers/nats-server.ts";
import { type EdgeqProcess, eventually, ROOT, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";
import { maxOverlap } from "./helpers/overlap.ts";

// A crashed worker's tasks come back after the ack wait; keep it short so the test does not wait long.
const env = useNats({ ackWaitMs: 2000 });
const procs: EdgeqProcess[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});
// Every test's tasks, checked after it (test/helpers/invariants.ts).
const accepted: string[] = [];
let watch: RecordWatch;
beforeAll(async () => void (watch = await RecordWatch.start(env.edgeq)));
afterEach(() => checkInvariants(env.edgeq, accepted.splice(0), { logs: [watch] }));
afterAll(() => watch?.stop());

function startModule(module: string, ...args: string[]): EdgeqProcess {
  const proc = runEdgeq("node", ["worker", module, ...args], { NATS_URL: env.server.url });
  procs.push(proc);
  return proc;
}

function startWorker(...args: string[]): EdgeqProcess {
  return startModule("workers/demo.ts", ...args);
}

async function records(ids: string[]): Promise<TaskRecord[]> {
  return (await Promise.all(ids.map((id) => env.edgeq.tasks.get(id)))).map((r) => r!);
}

async function allFinished(ids: string[], timeoutMs: number): Promise<TaskRecord[]> {
  return eventually(async () => {
    const all = await records(ids);
    return all.every((r) => r.status === "completed" || r.status === "failed") ? all : null;
  }, timeoutMs, `${ids.length} tasks to finish`);
}

test("500 tasks submitted over HTTP to three worker processes all complete", async () => {
  const workers = [startWorker(), startWorker(), startWorker()];
  const workerIds = await Promise.all(workers.map((w) => w.workerId()));
  const port = await freePort();
  const api = runEdgeq("node", ["serve"], { NATS_URL: env.server.url, PORT: String(port) });
  procs.push(api);
  await api.waitFor(/API listening/);
  const base = `http://127.0.0.1:${port}`;
  const ids: string[] = [];
  for (let i = 0; i < 500; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: 50 }, async (_, j) => {
        const body = (i + j) % 2 ? { type: "process", data: `task ${i + j}` } : { type: "sleep", data: { ms: 20 } };
        const res = await fetch(`${base}/tasks`, { method: "POST", body: JSON.stringify(body) });
        expect(res.status).toBe(201);
        return (await res.json()).task_id as string;
      }),
    );
    ids.push(...batch);
  }
  accepted.push(...ids);
  const done = await allFinished(ids, 60_000);
  expect(done.filter((r) => r.status === "completed")).toHaveLength(500);
  const perWorker = new Map(workerIds.map((id) => [id, done.filter((r) => r.worker_id === id).length]));
  expect([...perWorker.values()].reduce((a, b) => a + b)).toBe(500);
  for (const [id, n] of perWorker) expect(n, `tasks done by ${id}`).toBeGreaterThan(0);

  const listed = await (await fetch(`${base}/workers`)).json();
  expect(listed.workers.map((w: { id: string }) => w.id).sort()).toEqual([...workerIds].sort());
  expect(listed.workers.every((w: { runtime: string }) => w.runtime === "node")).toBe(true);
});

test("the edgeq command runs compiled JavaScript: a JavaScript worker loads neither tsx nor Hono, a TypeScript one loads tsx", async () => {
  const imports = async (module: string, work: () => Promise<void>) => {
    const trace = join(mkdtempSync(join(tmpdir(), "edgeq-imports-")), "imports.txt");
    const proc = runEdgeq("node", ["worker", module], {
      NATS_URL: env.server.url,
      NODE_OPTIONS: `--import ${ROOT}test/fixtures/trace-imports.mjs`,
      TRACE_IMPORTS: trace,
    });
    procs.push(proc);
    await proc.workerId();
    await work();
    await proc.stop();
    return readFileSync(trace, "utf8").split("\n");
  };
  const compiled = await imports("test/fixtures/worker.mjs", async () => {
    const { id } = await env.edgeq.queue().submit("echo", { n: 1 });
    accepted.push(id);
    expect((await env.edgeq.tasks.waitFor(id, 15_000))?.status).toBe("completed");
  });
  expect(compiled).toContainEqual(expect.stringContaining("/dist/node/edgeq.js"));
  expect(compiled.filter((url) => /\/src\/.*\.ts$|node_modules\/(tsx|hono|@hono)\//.test(url))).toEqual([]);
  expect((await imports("test/fixtures/recording-worker.ts", async () => {})).some((url) => url.includes("node_modules/tsx/"))).toBe(true);
});

test("a worker killed with SIGKILL mid-task: its tasks are redelivered and completed, none of 200 lost", async () => {
  const [victim, survivor] = [startWorker("--concurrency", "5"), startWorker("--concurrency", "5")];
  const [victimId, survivorId] = await Promise.all([victim.workerId(), survivor.workerId()]);
  const submitted = await env.edgeq.queue().submitMany(
    Array.from({ length: 200 }, () => ({ type: "sleep", data: { ms: 100 } })),
  );
  const ids = submitted.map((s) => s.id);
  accepted.push(...ids);
  // Runs this short store no `running`: the victim is busy once it has completed some.
  await eventually(async () => (await records(ids)).some((r) => r.status === "completed" && r.worker_id === victimId), 10_000, "the victim to be busy");
  victim.kill("SIGKILL");
  await victim.exited;

  const done = await allFinished(ids, 60_000);
  expect(done.filter((r) => r.status === "completed")).toHaveLength(200);
  // The victim died busy (the queue was far from drained), so some of its tasks ran again.
  // Its interrupted runs stored nothing, and still count: the server's delivery count is their floor.
  const rerun = done.filter((r) => r.attempts > 1);
  expect(rerun.length).toBeGreaterThan(0);
  expect(rerun.every((r) => r.worker_id === survivorId && r.attempts === 2)).toBe(true);
  expect(done.filter((r) => r.worker_id === victimId).every((r) => r.attempts === 1)).toBe(true);
});

test("graceful shutdown: running tasks finish within the grace period, queued ones stay pending", async () => {
  const worker = startWorker("--concurrency", "4", "--queues", "graceful");
  const id = await worker.workerId();
  const submitted = await env.edgeq.queue("graceful").submitMany(
    // Long enough to be running when the SIGTERM comes, short enough to end within the 10 s grace.
    Array.from({ length: 12 }, () => ({ type: "sleep", data: { ms: 6000 } })),
  );
  const ids = submitted.map((s) => s.id);
  accepted.push(...ids);
  const running = await eventually(async () => {
    const now = (await records(ids)).filter((r) => r.status === "running");
    return now.length === 4 ? now.map((r) => r.id) : null;
  }, 10_000, "4 running");
  const sigtermAt = Date.now();
  worker.kill("SIGTERM");
  expect(await worker.exited).toBe(0);

  const after = await records(ids);
  expect(after.filter((r) => r.status === "running")).toEqual([]);
  // Those running at the SIGTERM finished there; nothing started after it; never more than 4 at once.
  const completed = after.filter((r) => r.status === "completed");
  expect(completed.filter((r) => running.includes(r.id)).map((r) => r.worker_id)).toEqual([id, id, id, id]);
  expect(completed.filter((r) => Date.parse(r.started_at!) >= sigtermAt)).toEqual([]);
  expect(maxOverlap(completed.map((r) => [Date.parse(r.started_at!), Date.parse(r.finished_at!)]))).toBeLessThanOrEqual(4);
  expect(after.filter((r) => r.status === "pending")).toHaveLength(12 - completed.length);
  const listed = await env.edgeq.workers();
  expect(listed.map((w) => w.id)).not.toContain(id);

  startWorker("--queues", "graceful", "--concurrency", "8");
  const done = await allFinished(ids, 30_000);
  expect(done.every((r) => r.status === "completed" && r.attempts === 1)).toBe(true);
});

test("graceful shutdown past the grace period: unfinished tasks are given back, then completed elsewhere", async () => {
  const worker = startWorker("--concurrency", "4", "--grace-ms", "200", "--queues", "short_grace");
  const workerId = await worker.workerId();
  const submitted = await env.edgeq.queue("short_grace").submitMany(
    Array.from({ length: 4 }, () => ({ type: "sleep", data: { ms: 4000 } })),
  );
  const ids = submitted.map((s) => s.id);
  accepted.push(...ids);
  await eventually(async () => (await records(ids)).every((r) => r.status === "running"), 10_000, "all 4 running");
  const stopping = Date.now();
  worker.kill("SIGTERM");
  expect(await worker.exited).toBe(0);
  expect(Date.now() - stopping).toBeLessThan(3000);
  const returned = await records(ids);
  expect(returned.map((r) => [r.status, r.worker_id])).toEqual(ids.map(() => ["pending", null]));

  startWorker("--concurrency", "4", "--queues", "short_grace");
  const done = await allFinished(ids, 30_000);
  expect(done.every((r) => r.status === "completed" && r.worker_id !== workerId)).toBe(true);
  // The interrupted runs were given back, not failed: they do not count as attempts.
  expect(done.map((r) => r.attempts)).toEqual([1, 1, 1, 1]);
});

test("a task that kills its worker every time is dead-lettered once its attempts are used up, with the reason", async () => {
  await env.edgeq.ensureQueue("crashy"); // with this file's short ack wait, before a worker makes them
  const { id } = await env.edgeq.queue("crashy").submit("crash", null, { maxAttempts: 2 });
  accepted.push(id);
  let crashes = 0;
  for (;;) {
    const worker = startModule("test/fixtures/crashing-worker.ts", "--queues", "crashy");
    const verdict = await eventually(async () => {
      const record = await env.edgeq.tasks.get(id);
      if (record?.status === "dead") return record;
      return worker.proc.signalCode === "SIGKILL" ? "crashed" : null;
    }, 20_000, "a crash or a verdict");
    if (verdict === "crashed") {
      crashes++;
      expect(crashes).toBeLessThanOrEqual(2);
      continue;
    }
    expect(verdict).toMatchObject({ status: "dead", attempts: 2 });
    expect(verdict.error).toMatch(/^used up its 2 attempts; the last ended without an outcome/);
    const lost = "ended without an outcome (the worker stopped or lost its connection)";
    expect(verdict.history.map((a) => [a.attempt, a.error])).toEqual([[1, lost], [2, lost]]);
    expect((await env.edgeq.deadLetters.get(id)).reason).toBe(verdict.error);
    break;
  }
  // The first crash stored nothing and counts by the server's delivery count; the second run stored
  // `running` before its handler started.
  expect(crashes).toBe(2);
});

test("a worker stopped during a run whose lease lapsed leaves the run that took over alone", async () => {
  // One slot: no pull of its own is open for the redelivery while its run blocks.
  const stalled = startModule("test/fixtures/stalling-worker.ts", "--grace-ms", "0", "--concurrency", "1");
  await stalled.workerId();
  const { id } = await env.edgeq.queue().submit("stallThenWait", { ms: 3000, waitMs: 6000 });
  accepted.push(id);
  await eventually(async () => (await env.edgeq.tasks.get(id))?.status === "running", 5000, "the first run to start");
  const takeover = startModule("test/fixtures/stalling-worker.ts");
  const takeoverId = await takeover.workerId();
  await eventually(async () => (await env.edgeq.tasks.get(id))?.worker_id === takeoverId, 10_000, "the second run to start");
  // The first run is waiting now, its lease gone: stopping its worker gives nothing back, so the
  // message the second run holds is not handed out a third time.
  await new Promise((r) => setTimeout(r, 1500));
  stalled.kill("SIGTERM");
  expect(await stalled.exited).toBe(0);
  // Its run was still waiting when it stopped: it never got as far as trying to store an outcome.
  expect(stalled.output).not.toMatch(/taken over by another run/);
  expect(await env.edgeq.tasks.waitFor(id, 10_000)).toMatchObject({ status: "completed", attempts: 2, worker_id: takeoverId });
});

test("a run whose lease lapsed cannot overwrite the outcome of the run that took over", async () => {
  const stalled = startModule("test/fixtures/stalling-worker.ts");
  await stalled.workerId();
  // 8 s: under a full test run, the second worker can take seconds to start pulling.
  const { id } = await env.edgeq.queue().submit("stall", { ms: 8000 });
  accepted.push(id);
  // Its handler blocks at once, before its run could store `running`: the delivery shows it started.
  await eventually(async () => (await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName("default", "normal"))).num_ack_pending === 1, 15_000, "the first run to start");
  const takeover = startModule("test/fixtures/stalling-worker.ts");
  const takeoverId = await takeover.workerId();
  // The ack wait (2 s) lapses while the first run blocks; the second worker runs the task again.
  // Attempt 2, or 3 when a redelivery went first to the blocked worker's open pull: the delivery
  // count, which counts that one, is the floor of the attempts.
  const done = await env.edgeq.tasks.waitFor(id, 10_000);
  expect(done).toMatchObject({ status: "completed", worker_id: takeoverId, result: { attempt: done!.attempts } });
  expect(done!.attempts).toBeGreaterThanOrEqual(2);
  // The first run wakes up at 8 s and must leave that outcome alone.
  await stalled.waitFor(/taken over by another run/, 10_000);
  expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "completed", attempts: done!.attempts, worker_id: takeoverId });
});
