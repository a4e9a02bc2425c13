/**
 * Pausing and resuming queues over a real nats-server: a paused queue accepts submissions but no
 * worker starts its tasks within 1 s, running ones finish, other queues go on, the state survives a
 * server restart and reaches workers that start later, and GET /queues shows it.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { Edgeq } from "../src/client/client.ts";
import type { Worker } from "../src/worker/mod.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
// Workers on a connection of their own: the pause reaches them through NATS, not through this process's objects.
let workerNc: NatsConnection;
let workerEdgeq: Edgeq;
const workers: Worker[] = [];
beforeAll(async () => {
  workerNc = await connect({ servers: env.server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  workerEdgeq = await Edgeq.open(workerNc);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(() => workerNc?.close());

const api = () => createApi(env.edgeq, { onError: () => {} });
async function call(method: string, path: string) {
  const res = await api().request(path, { method });
  return { status: res.status, body: await res.json() };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a paused queue accepts tasks but no worker starts one within 1 s; running ones finish; resumed, they all run", async () => {
  const starts: number[] = [];
  const worker = await workerEdgeq.worker({
    step: async (ms: number) => {
      starts.push(Date.now());
      await sleep(ms);
      return ms;
    },
  }, { queues: ["pause_steady"], concurrency: 4 });
  workers.push(worker);
  const queue = env.edgeq.queue("pause_steady");
  const before = await queue.submitMany(Array.from({ length: 400 }, () => ({ type: "step", data: 20 })));
  await eventually(async () => starts.length >= 20, 10_000, "tasks to be under way");

  const paused = await call("POST", "/queues/pause_steady/pause");
  const pausedAt = Date.now();
  expect(paused).toMatchObject({ status: 200, body: { success: true, queue: "pause_steady", paused: true } });
  // Still accepted while paused.
  const res = await api().request("/tasks", { method: "POST", body: '{"type": "step", "data": 20, "queue": "pause_steady"}' });
  expect(res.status).toBe(201);
  const during = { id: (await res.json()).task_id as string };
  await sleep(1500);
  const lateStarts = starts.filter((t) => t > pausedAt + 1000);
  console.log(`pause: last start ${Math.max(...starts) - pausedAt} ms after the pause was answered; ${starts.length} of 401 started`);
  expect(lateStarts).toEqual([]);
  expect(starts.length).toBeLessThan(401);
  // The runs under way when it paused finished, and none is left in hand.
  expect(worker.info().in_flight).toBe(0);

  const listed = (await call("GET", "/queues")).body.queues.find((q: { name: string }) => q.name === "pause_steady");
  expect(listed).toMatchObject({ paused: true });
  // Unstarted: in the stream, or held by the worker until the resume (delivered, so counted as running).
  expect(listed.pending.normal + listed.running).toBe(401 - starts.length);

  expect(await call("POST", "/queues/pause_steady/resume")).toMatchObject({ status: 200, body: { paused: false, paused_at: null } });
  for (const t of [...before, during]) expect(await env.edgeq.tasks.waitFor(t.id, 20_000)).toMatchObject({ status: "completed" });
});

test("pausing one queue leaves the others running on the same worker", async () => {
  const worker = await workerEdgeq.worker({ echo: (x: unknown) => x }, { queues: ["pause_a", "pause_b"] });
  workers.push(worker);
  await env.edgeq.queue("pause_a").pause();
  const a = await env.edgeq.queue("pause_a").submit("echo", "a");
  const b = await env.edgeq.queue("pause_b").submit("echo", "b");
  expect(await env.edgeq.tasks.waitFor(b.id, 5000)).toMatchObject({ status: "completed", result: "b" });
  expect(await env.edgeq.tasks.get(a.id)).toMatchObject({ status: "pending" });
  await env.edgeq.queue("pause_a").resume();
  expect(await env.edgeq.tasks.waitFor(a.id, 5000)).toMatchObject({ status: "completed", result: "a" });
});

test("the paused state survives a server restart and holds for a worker started later", async () => {
  await env.edgeq.queue("pause_durable").pause();
  const watch = await RecordWatch.start(env.edgeq);
  const task = await env.edgeq.queue("pause_durable").submit("echo", 1);
  await env.server.kill("SIGTERM");
  await env.server.restart();
  await eventually(async () => env.edgeq.connection.up && workerEdgeq.connection.up, 10_000, "both connections back");
  expect(await env.edgeq.queues.get("pause_durable")).toMatchObject({ paused: true });

  const worker = await workerEdgeq.worker({ echo: (x: unknown) => x }, { queues: ["pause_durable"] });
  workers.push(worker);
  await sleep(1000);
  expect(await env.edgeq.tasks.get(task.id)).toMatchObject({ status: "pending" });
  expect(worker.info().processed).toBe(0);
  await env.edgeq.queue("pause_durable").resume();
  expect(await env.edgeq.tasks.waitFor(task.id, 5000)).toMatchObject({ status: "completed" });
  await checkInvariants(env.edgeq, [task.id], { logs: [watch], expectStatus: "completed" });
  await watch.stop();
});

test("pausing twice, or resuming a running queue, answers the state; a bad queue name is a 400", async () => {
  const first = await call("POST", "/queues/pause_twice/pause");
  const second = await call("POST", "/queues/pause_twice/pause");
  expect(second.body).toEqual(first.body);
  expect(await call("POST", "/queues/pause_twice/resume")).toMatchObject({ status: 200, body: { paused: false } });
  expect(await call("POST", "/queues/pause_twice/resume")).toMatchObject({ status: 200, body: { paused: false } });
  expect(await call("POST", "/queues/a.b/pause")).toMatchObject({ status: 400, body: { code: "validation_error" } });
  const { body } = await call("GET", "/queues");
  expect(body.queues.map((q: { name: string }) => q.name)).toContain("default");
  expect(body.count).toBe(body.queues.length);
});
