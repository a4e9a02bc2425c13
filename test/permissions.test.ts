/**
 * The least-privilege users of deploy/nats-server.conf on a real nats-server: an admin creates the
 * topology, the API submits and reads with its own user, a worker works with its own, nothing they
 * do is refused, and what they must not do is.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { Edgeq } from "../src/client/client.ts";
import type { Scheduler } from "../src/delayed/mod.ts";
import { consumerName, WORK_STREAM } from "../src/wire/names.ts";
import type { Worker } from "../src/worker/mod.ts";
import { handlers } from "../workers/demo.ts";
import { processOverHttp } from "./helpers/api-flow.ts";
import { NatsServer } from "./helpers/nats-server.ts";
import { eventually, ROOT } from "./helpers/processes.ts";

const PASSWORDS = { admin: "admin-pw-1", api: "api-pw-2", worker: "worker-pw-3" };
let server: NatsServer;
const connections: NatsConnection[] = [];
/** Asynchronous errors the server sent each user (a refused publish or subscription arrives so). */
const refused: Record<string, string[]> = { api: [], worker: [] };

async function login(user: keyof typeof PASSWORDS): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, user, pass: PASSWORDS[user], name: user, inboxPrefix: `_INBOX_${user}` });
  connections.push(nc);
  (async () => {
    for await (const s of nc.status()) if (s.type === "error") refused[user]?.push(String(s.error));
  })();
  return nc;
}

let api: ReturnType<typeof createApi>;
let apiNc: NatsConnection;
let workerNc: NatsConnection;
let workerEdgeq: Edgeq;
let worker: Worker;
let scheduler: Scheduler;
const workerErrors: unknown[] = [];
const schedulerErrors: unknown[] = [];

beforeAll(async () => {
  server = await NatsServer.start({
    config: `${ROOT}deploy/nats-server.conf`,
    env: {
      EDGEQ_ADMIN_PASSWORD: PASSWORDS.admin,
      EDGEQ_API_PASSWORD: PASSWORDS.api,
      EDGEQ_WORKER_PASSWORD: PASSWORDS.worker,
    },
  });
  // Only the admin may create the topology.
  const admin = await login("admin");
  await Edgeq.open(admin);
  await admin.close();

  apiNc = await login("api");
  // Bounded, so that submissions also read the queue's length.
  const apiEdgeq = await Edgeq.open(apiNc, { queues: { default: { maxLength: 1000 } } });
  api = createApi(apiEdgeq);
  // As `edgeq serve` runs one: the API's user promotes delayed tasks.
  scheduler = apiEdgeq.scheduler({ holder: "api", onError: (err) => schedulerErrors.push(err) });
  workerNc = await login("worker");
  workerEdgeq = await Edgeq.open(workerNc);
  worker = await workerEdgeq.worker(handlers, { heartbeatIntervalMs: 200, onError: (err) => workerErrors.push(err) });
});

afterAll(async () => {
  await scheduler?.stop();
  await worker?.stop();
  await Promise.all(connections.map((nc) => nc.close()));
  await server?.stop();
});

test("a user without the admin's rights cannot create the topology", async () => {
  const server2 = await NatsServer.start({
    config: `${ROOT}deploy/nats-server.conf`,
    env: { EDGEQ_ADMIN_PASSWORD: "a", EDGEQ_API_PASSWORD: "b", EDGEQ_WORKER_PASSWORD: "c" },
  });
  try {
    const nc = await connect({ servers: server2.url, user: "api", pass: "b", inboxPrefix: "_INBOX_api" });
    await expect(Edgeq.open(nc)).rejects.toThrow(/permission/i);
    await nc.close();
  } finally {
    await server2.stop();
  }
});

test("the API submits over HTTP, the worker runs the task, the outcome is readable; nothing is refused", async () => {
  const { task_id, task } = await processOverHttp(api, "least privilege");
  expect(task).toMatchObject({ result: { processed: "LEAST PRIVILEGE" }, worker_id: worker.id });

  const failing = await (await api.request("/tasks", { method: "POST", body: '{"type": "fail", "max_attempts": 1}' })).json();
  await eventually(async () => (await (await api.request(`/tasks/${failing.task_id}`)).json()).status === "dead", 10_000, "the failure");

  // Dead letters: the worker sent one; the API lists, shows, requeues and purges.
  const dead = await (await api.request("/dead-letters")).json();
  expect(dead.dead_letters.map((l: { id: string }) => l.id)).toEqual([failing.task_id]);
  expect((await api.request(`/dead-letters/${failing.task_id}`)).status).toBe(200);
  expect((await api.request(`/dead-letters/${failing.task_id}/requeue`, { method: "POST" })).status).toBe(200);
  await eventually(async () => (await (await api.request(`/dead-letters/${failing.task_id}`)).json()).attempts === 1, 10_000, "the second death");
  expect(await (await api.request("/dead-letters", { method: "DELETE" })).json()).toMatchObject({ purged: 1 });

  // A cancel: the API deletes the work message and tells the worker, which aborts the run.
  const long = await (await api.request("/tasks", { method: "POST", body: '{"type": "sleep", "data": {"ms": 60000}}' })).json();
  await eventually(async () => worker.info().running.includes(long.task_id), 10_000, "the sleep to start");
  expect((await api.request(`/tasks/${long.task_id}/cancel`, { method: "POST" })).status).toBe(200);
  await eventually(async () => worker.info().in_flight === 0, 5000, "the canceled run to end");
  expect((await (await api.request(`/tasks/${long.task_id}`)).json()).status).toBe("canceled");

  // A delayed task: the API stores it and its record, its scheduler promotes it, the worker runs it.
  const delayed = await (await api.request("/tasks", { method: "POST", body: '{"type": "process", "data": "later", "delay_ms": 300}' })).json();
  expect((await (await api.request(`/tasks/${delayed.task_id}`)).json()).status).toBe("delayed");
  await eventually(async () => (await (await api.request(`/tasks/${delayed.task_id}`)).json()).status === "completed", 10_000, "the delayed task");
  const canceled = await (await api.request("/tasks", { method: "POST", body: '{"type": "process", "delay_ms": 60000}' })).json();
  expect((await api.request(`/tasks/${canceled.task_id}/cancel`, { method: "POST" })).status).toBe(200);

  // A recurring task: the API stores the schedule, its scheduler submits a tick, the worker runs it.
  expect((await api.request("/schedules", { method: "POST", body: '{"name": "perm", "cron": "* * * * * *", "type": "process", "data": "tick"}' })).status).toBe(201);
  await eventually(async () => (await (await api.request("/tasks?status=completed&limit=100")).json()).tasks.some((t: { id: string }) => t.id.startsWith("sched-perm-")), 10_000, "a tick");
  expect((await api.request("/schedules/perm", { method: "DELETE" })).status).toBe(200);

  // A flow: the API stores its gate, records and links; the worker releases the child when the parent completes.
  const flow = await (await api.request("/flows", { method: "POST", body: '{"type": "process", "data": "child", "children": [{"type": "process", "data": "parent"}]}' })).json();
  const child = flow.tasks.at(-1).task_id;
  await eventually(async () => (await (await api.request(`/tasks/${child}`)).json()).status === "completed", 10_000, "the flow's child");
  // A task that waits on one submitted before: the API's sweep releases it.
  const slow = await (await api.request("/tasks", { method: "POST", body: '{"type": "sleep", "data": {"ms": 300}}' })).json();
  const after = await (await api.request("/tasks", { method: "POST", body: JSON.stringify({ type: "process", data: "after", depends_on: [slow.task_id] }) })).json();
  await eventually(async () => (await (await api.request(`/tasks/${after.task_id}`)).json()).status === "completed", 10_000, "the dependent task");

  // Pause and resume: the API stores the state and tells the worker, which reads it.
  expect((await api.request("/queues/default/pause", { method: "POST" })).status).toBe(200);
  const held = await (await api.request("/tasks", { method: "POST", body: '{"type": "process", "data": "after the pause"}' })).json();
  await new Promise((r) => setTimeout(r, 500));
  expect((await (await api.request(`/tasks/${held.task_id}`)).json()).status).toBe("pending");
  expect((await (await api.request("/queues")).json()).queues).toContainEqual(expect.objectContaining({ name: "default", paused: true }));
  expect((await api.request("/queues/default/resume", { method: "POST" })).status).toBe(200);
  await eventually(async () => (await (await api.request(`/tasks/${held.task_id}`)).json()).status === "completed", 10_000, "the task after resume");

  const listed = await (await api.request("/tasks?status=completed")).json();
  expect(listed.tasks.map((t: { id: string }) => t.id)).toContain(task_id);
  const workers = await (await api.request("/workers")).json();
  expect(workers.workers.map((w: { id: string }) => w.id)).toEqual([worker.id]);
  const health = await api.request("/health");
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: "healthy", workers: 1 });

  // The worker's sweep of finished records: read the records' stream, delete by sequence.
  expect(await workerEdgeq.tasks.sweep(0)).toBeGreaterThanOrEqual(2);
  expect((await workerEdgeq.tasks.read(task_id)).record).toBeNull();

  expect(refused).toEqual({ api: [], worker: [] });
  expect(workerErrors).toEqual([]);
  expect(schedulerErrors).toEqual([]);
});

test("the worker cannot delete the stream, submit delayed tasks, read the work subjects or make consumers", async () => {
  const jsm = await jetstreamManager(workerNc, { timeout: 2000 });
  const js = jetstream(workerNc, { timeout: 2000 });
  await expect(jsm.streams.delete(WORK_STREAM)).rejects.toThrow(/permission/i);
  await expect(jsm.streams.purge(WORK_STREAM)).rejects.toThrow(/permission/i);
  // It may publish work messages: it releases the tasks that wait on those it settles (src/flows/).
  await expect(js.publish("edgeq_delayed.1", '"injected"')).rejects.toThrow(/permission/i);
  await expect(jsm.consumers.add(WORK_STREAM, { durable_name: "thief", ack_policy: "explicit" as never })).rejects.toThrow(/permission/i);
  await expect(workerEdgeq.buckets.tasks.destroy()).rejects.toThrow(/permission/i);
  workerNc.subscribe("edgeq.>");
  await eventually(async () => refused.worker.some((e) => /permission/i.test(e) && e.includes("edgeq.>")), 5000, "the refused subscription");
  // Still there, with its consumers.
  const info = await (await jetstreamManager(apiNc)).streams.info(WORK_STREAM);
  expect(info.state.consumer_count).toBe(3);
});

test("the API cannot take tasks, answer them or delete anything", async () => {
  const jsm = await jetstreamManager(apiNc, { timeout: 2000 });
  await expect(
    apiNc.request(`$JS.API.CONSUMER.MSG.NEXT.${WORK_STREAM}.${consumerName("default", "normal")}`, '{"batch": 1}', { timeout: 2000 }),
  ).rejects.toThrow(/permission/i);
  await expect(jsm.streams.delete(WORK_STREAM)).rejects.toThrow(/permission/i);
  await expect(jsm.consumers.delete(WORK_STREAM, consumerName("default", "high"))).rejects.toThrow(/permission/i);
  await expect(jsm.streams.deleteMessage(`KV_edgeq_tasks`, 1)).rejects.toThrow(/permission/i);
});

/** Waits for the server to refuse `what` to `user` (refusals of subscriptions and plain publishes arrive asynchronously). */
function refusedTo(user: "api" | "worker", what: string) {
  return eventually(async () => refused[user].some((e) => /permission/i.test(e) && e.includes(what)), 5000, `the refusal of ${what}`);
}

test("each user reads only its own replies: another's inbox prefix, and the shared _INBOX, are refused", async () => {
  apiNc.subscribe("_INBOX_worker.>");
  await refusedTo("api", "_INBOX_worker.>");
  workerNc.subscribe("_INBOX_api.>");
  await refusedTo("worker", "_INBOX_api.>");
  for (const [user, nc] of [["api", apiNc], ["worker", workerNc]] as const) {
    nc.subscribe("_INBOX.>");
    await refusedTo(user, "_INBOX.>");
  }
  // Their own still work: a request answered on the API's inbox, a pull answered on the worker's.
  expect((await (await api.request("/health")).json()).status).toBe("healthy");
  expect(worker.info().running).toEqual([]);
});

test("who may write what: the worker cannot delay, cancel, pause or schedule (it may publish work messages, to release dependents); the API cannot ack, count or heartbeat", async () => {
  const workerJs = jetstream(workerNc, { timeout: 2000 });
  await expect(workerJs.publish("edgeq_delayed.1", '"injected"')).rejects.toThrow(/permission/i);
  await expect(workerJs.publish("$KV.edgeq_queues.default", '{"paused": true}')).rejects.toThrow(/permission/i);
  await expect(workerJs.publish("$KV.edgeq_schedules.evil", "{}")).rejects.toThrow(/permission/i);
  workerNc.publish("edgeq_cancel.some-task");
  await refusedTo("worker", "edgeq_cancel.some-task");

  const apiJs = jetstream(apiNc, { timeout: 2000 });
  await expect(apiJs.publish("$KV.edgeq_stats.default", "{}")).rejects.toThrow(/permission/i);
  await expect(apiJs.publish("$KV.edgeq_workers.fake-worker", "{}")).rejects.toThrow(/permission/i);
  apiNc.publish("$JS.ACK.EDGEQ_TASKS.x.1.1.1.1.1.1", "+ACK");
  await refusedTo("api", "$JS.ACK.EDGEQ_TASKS");

  // What subject permissions cannot express (docs/architecture.md, "Permissions"): a record's status
  // is in its body, and the API writes records (a cancel's final `canceled`, a requeue's `pending`,
  // a delayed task's), so it may write any record. This stays true until the design changes.
  const rogue = await apiJs.publish("$KV.edgeq_tasks.not-a-real-task", JSON.stringify({ status: "completed" }));
  expect(rogue.seq).toBeGreaterThan(0);
});
