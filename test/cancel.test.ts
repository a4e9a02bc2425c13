/**
 * Canceling tasks over a real nats-server: pending ones never run, running ones are aborted on the
 * worker that has them (a worker process of its own), a worker killed while its task is canceled
 * does not bring it back, and the answers (idempotent, 404, 409) and bulk cancels.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { WORK_STREAM } from "../src/wire/names.ts";
import type { Worker } from "../src/worker/mod.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { type EdgeqProcess, eventually, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

// A killed worker's task would come back after the ack wait: keep it short, to see that it does not.
const env = useNats({ ackWaitMs: 1000 });
const dir = mkdtempSync(join(tmpdir(), "edgeq-cancel-"));
const runsFile = join(dir, "runs");
const processes: EdgeqProcess[] = [];
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all([...processes.splice(0).map((p) => p.stop()), ...workers.splice(0).map((w) => w.stop())]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const api = () => createApi(env.edgeq, { onError: () => {} });
async function cancel(id: string, body?: unknown) {
  const res = await api().request(`/tasks/${id}/cancel`, { method: "POST", ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: res.status, body: await res.json() };
}
const lines = () => readFileSync(runsFile, "utf8").split("\n").filter(Boolean).map((l) => l.split(" "));
const stored = async () => (await env.edgeq.jsm.streams.info(WORK_STREAM)).state.messages;

async function startWorkerProcess(): Promise<EdgeqProcess> {
  const proc = runEdgeq("node", ["worker", "test/fixtures/cancelable-worker.ts"], { NATS_URL: env.server.url, EDGEQ_RUNS_FILE: runsFile });
  processes.push(proc);
  await proc.waitFor(/worker \S+ \(node\)/);
  return proc;
}

test("a pending task canceled never runs; canceling again answers the same, and the answers name what is wrong", async () => {
  const { id } = await env.edgeq.queue("cancel_pending").submit("count", 1);
  const first = await cancel(id, { reason: "no longer needed" });
  expect(first).toMatchObject({ status: 200, body: { success: true, task_id: id, status: "canceled" } });
  expect(first.body.task).toMatchObject({ id, status: "canceled", error: "no longer needed", queue: "cancel_pending" });
  expect(await stored()).toBe(0);

  let runs = 0;
  workers.push(await env.edgeq.worker({ count: () => ++runs }, { queues: ["cancel_pending"] }));
  const later = await env.edgeq.queue("cancel_pending").submit("count", 2);
  expect(await env.edgeq.tasks.waitFor(later.id, 5000)).toMatchObject({ status: "completed", result: 1 });
  expect(runs).toBe(1);
  expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "canceled" });

  expect(await cancel(id)).toMatchObject({ status: 200, body: { status: "canceled", task: { error: "no longer needed" } } });
  expect(await cancel("no-such-task")).toMatchObject({ status: 404, body: { code: "not_found_error", error: "task no-such-task not found" } });
  expect(await cancel(later.id)).toMatchObject({ status: 409, body: { code: "conflict_error", error: `task ${later.id} is already completed; only an unfinished task can be canceled` } });
  expect(await cancel(id, { reason: "" })).toMatchObject({ status: 400, body: { error: "invalid cancel: reason: must not be empty" } });
  expect(await cancel(id, { why: 1 })).toMatchObject({ status: 400, body: { code: "validation_error" } });
  expect(await cancel("bad id!")).toMatchObject({ status: 400, body: { code: "validation_error" } });
});

test("a running task canceled from another process: its handler's signal aborts within 100 ms, and it ends canceled, not retried", async () => {
  writeFileSync(runsFile, "");
  await startWorkerProcess();
  const { id } = await env.edgeq.queue().submit("hold", null, { maxAttempts: 3 });
  await eventually(async () => lines().some(([event, task]) => event === "start" && task === id), 10_000, "the task to start");

  const answer = await cancel(id);
  const canceledAt = Date.now();
  expect(answer).toMatchObject({ status: 200, body: { status: "canceled" } });
  const abort = await eventually(async () => lines().find(([event, task]) => event === "abort" && task === id), 5000, "the abort");
  expect(abort[3]).toBe("CanceledError");
  const lateMs = Number(abort[2]) - canceledAt;
  console.log(`cancel of a running task: its signal aborted ${lateMs} ms after the cancel was answered`);
  expect(lateMs).toBeLessThan(100);

  await eventually(async () => (await stored()) === 0, 5000, "the work message to go");
  // Its handler rejected, with attempts left: still no retry, and the one outcome is the cancel.
  await new Promise((r) => setTimeout(r, 1500));
  expect(lines().filter(([event, task]) => event === "start" && task === id)).toHaveLength(1);
  expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "canceled" });
});

test("a task whose worker was killed while it ran, canceled then, does not run again", async () => {
  writeFileSync(runsFile, "");
  const victim = await startWorkerProcess();
  const watch = await RecordWatch.start(env.edgeq);
  const { id } = await env.edgeq.queue().submit("hold");
  await eventually(async () => lines().some(([event, task]) => event === "start" && task === id), 10_000, "the task to start");
  victim.kill("SIGKILL");
  await victim.exited;

  expect(await cancel(id)).toMatchObject({ status: 200, body: { status: "canceled" } });
  await startWorkerProcess();
  // Past the ack wait, when the killed worker's task would have come back.
  await new Promise((r) => setTimeout(r, 2500));
  expect(lines().filter(([event, task]) => event === "start" && task === id)).toHaveLength(1);
  expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "canceled" });
  expect(await stored()).toBe(0);
  await checkInvariants(env.edgeq, [id], { logs: [watch], expectStatus: "canceled" });
  await watch.stop();
});

test("a handler that ignores its signal and completes still ends canceled: one outcome, not counted completed", async () => {
  let release!: () => void;
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const outcomes: string[] = [];
  const stubborn = () => {
    started();
    return new Promise((r) => (release = () => r("done anyway")));
  };
  const worker = await env.edgeq.worker({ stubborn }, { queues: ["cancel_stubborn"], onOutcome: (r) => outcomes.push(r.status) });
  workers.push(worker);
  const { id } = await env.edgeq.queue("cancel_stubborn").submit("stubborn");
  await running;
  await env.edgeq.tasks.cancel(id);
  release();
  await eventually(async () => worker.info().in_flight === 0, 5000, "the run to settle");
  expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "canceled" });
  expect(outcomes).toEqual([]);
  expect(worker.info().completed).toBe(0);
});

test("POST /tasks/cancel cancels by queue and type, and says how many", async () => {
  const queue = env.edgeq.queue("cancel_bulk");
  await queue.submitMany([{ type: "a" }, { type: "a" }, { type: "b" }, { type: "b" }, { type: "b" }]);
  const other = await env.edgeq.queue("cancel_other").submit("b");
  const bulk = async (body: unknown) => {
    const res = await api().request("/tasks/cancel", { method: "POST", body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  expect(await bulk({ queue: "cancel_bulk", type: "b" })).toEqual({ status: 200, body: { success: true, canceled: 3 } });
  expect(await bulk({ queue: "cancel_bulk", status: "running" })).toMatchObject({ body: { canceled: 0 } });
  expect(await bulk({ queue: "cancel_bulk" })).toMatchObject({ body: { canceled: 2 } });
  expect(await bulk({ queue: "cancel_bulk" })).toMatchObject({ body: { canceled: 0 } });
  expect(await env.edgeq.tasks.get(other.id)).toMatchObject({ status: "pending" });
  expect(await bulk({ status: "done" })).toMatchObject({ status: 400, body: { error: "invalid cancel: status: must be pending or running" } });
  expect(await bulk({ queue: "a.b" })).toMatchObject({ status: 400, body: { code: "validation_error" } });
  const canceled = (await env.edgeq.tasks.list({ status: "canceled", limit: 100 })).filter((t) => t.queue === "cancel_bulk");
  expect(canceled.map((t) => t.type).sort()).toEqual(["a", "a", "b", "b", "b"]);
});
