/**
 * The HTTP API over a real nats-server, driven with Hono's app.request(): the design notes' curl
 * commands, the answers' shapes, and every kind of bad input.
 */
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { Edgeq } from "../src/client/client.ts";
import { TASKS_BUCKET, WORK_STREAM } from "../src/wire/names.ts";
import type { Worker } from "../src/worker/mod.ts";
import { handlers } from "../workers/demo.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { NatsServer } from "./helpers/nats-server.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
let app: ReturnType<typeof createApi>;
let worker: Worker;

beforeAll(async () => {
  app = createApi(env.edgeq, { gateway: "gateway-test", onError: () => {} });
  worker = await env.edgeq.worker(handlers, { host: "test-host", runtime: "node", concurrency: 4, heartbeatIntervalMs: 200 });
});
afterAll(() => worker?.stop());

function post(body: string, headers: Record<string, string> = { "Content-Type": "application/json" }) {
  return app.request("/tasks", { method: "POST", body, headers });
}

async function json(res: Response | Promise<Response>) {
  const r = await res;
  return { status: r.status, body: await r.json() };
}

async function waitDone(id: string) {
  return eventually(async () => {
    const { body } = await json(app.request(`/tasks/${id}`));
    return ["completed", "failed", "dead"].includes(body.status) ? body : null;
  }, 15_000, `task ${id} finished`);
}

describe("the design notes' commands", () => {
  test("POST /tasks answers 201 with success, task_id and message, and the task completes", async () => {
    const { status, body } = await json(post(JSON.stringify({ type: "process", data: "Hello Distributed Systems!" })));
    expect(status).toBe(201);
    expect(body).toMatchObject({ success: true, message: "Task submitted successfully", priority: "normal" });
    expect(body.task_id).toMatch(/^[0-9a-f-]{36}$/);
    const task = await waitDone(body.task_id);
    expect(task).toMatchObject({
      id: body.task_id,
      type: "process",
      status: "completed",
      data: "Hello Distributed Systems!",
      attempts: 1,
      result: { processed: "HELLO DISTRIBUTED SYSTEMS!", words: 3 },
      worker_id: worker.id,
    });
    expect(Date.parse(task.finished_at)).toBeGreaterThanOrEqual(Date.parse(task.started_at));
  });

  test("POST /tasks with an id: resubmitting it stores the task once", async () => {
    const body = JSON.stringify({ type: "process", data: "once", id: "invoice-7" });
    const [first, second] = [await json(post(body)), await json(post(body))];
    expect([first.status, second.status]).toEqual([201, 201]);
    expect([first.body.task_id, second.body.task_id]).toEqual(["invoice-7", "invoice-7"]);
    expect(await waitDone("invoice-7")).toMatchObject({ status: "completed", attempts: 1 });
    const listed = (await json(app.request("/tasks?limit=1000"))).body.tasks.filter((t: { id: string }) => t.id === "invoice-7");
    expect(listed).toHaveLength(1);
  });

  test("GET /health has status, workers, pending_tasks, completed_tasks and timestamp", async () => {
    const { status, body } = await json(app.request("/health"));
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "healthy", gateway: "gateway-test", workers: 1 });
    for (const field of ["pending_tasks", "running_tasks", "completed_tasks", "failed_tasks"]) {
      expect(typeof body[field]).toBe("number");
    }
    expect(Date.parse(body.timestamp)).not.toBeNaN();
  });

  test("completed_tasks counts what workers report with their heartbeat", async () => {
    // Let the last beat catch up with the worker's own count first.
    const before = await eventually(async () => {
      const n = (await json(app.request("/health"))).body.completed_tasks;
      return n === worker.info().completed ? n + 1 : 0;
    }, 5000, "completed_tasks to settle") - 1;
    const { body } = await json(post(JSON.stringify({ type: "process", data: "count me" })));
    await waitDone(body.task_id);
    const after = await eventually(async () => {
      const n = (await json(app.request("/health"))).body.completed_tasks;
      return n > before ? n : 0;
    }, 5000, "completed_tasks to grow");
    expect(after).toBe(before + 1);
  });

  test("GET /tasks lists newest first, filters by status, and honours limit", async () => {
    const ids: string[] = [];
    for (const data of ["one", "two", "three"]) {
      ids.push((await json(post(JSON.stringify({ type: "process", data })))).body.task_id);
    }
    const failing = (await json(post(JSON.stringify({ type: "fail", max_attempts: 1 })))).body.task_id;
    await Promise.all([...ids, failing].map(waitDone));

    const all = await json(app.request("/tasks"));
    expect(all.status).toBe(200);
    expect(all.body.count).toBe(all.body.tasks.length);
    const order = all.body.tasks.map((t: { id: string }) => t.id);
    expect(order.indexOf(ids[2])).toBeLessThan(order.indexOf(ids[1]));
    expect(order.indexOf(ids[1])).toBeLessThan(order.indexOf(ids[0]));

    const two = await json(app.request("/tasks?limit=2"));
    expect(two.body.tasks).toHaveLength(2);

    const dead = await json(app.request("/tasks?status=dead"));
    expect(dead.body.tasks.map((t: { id: string }) => t.id)).toEqual([failing]);
    expect(dead.body.tasks[0].error).toMatch(/failed on purpose/);

    const completed = await json(app.request("/tasks?status=completed&limit=1000"));
    expect(completed.body.tasks.every((t: { status: string }) => t.status === "completed")).toBe(true);
    expect(completed.body.tasks.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining(ids));
  });

  test("status=processing, the tutorial's word, lists running tasks", async () => {
    const { body } = await json(post(JSON.stringify({ type: "sleep", data: { ms: 1500 } })));
    const running = await eventually(async () => {
      const list = (await json(app.request("/tasks?status=processing"))).body.tasks;
      return list.find((t: { id: string }) => t.id === body.task_id);
    }, 5000, "the sleep task to run");
    expect(running).toMatchObject({ status: "running", worker_id: worker.id });
    await waitDone(body.task_id);
  });

  test("GET /workers lists live workers from their heartbeats", async () => {
    const { status, body } = await json(app.request("/workers"));
    expect(status).toBe(200);
    expect(body.count).toBe(1);
    expect(body.workers[0]).toMatchObject({
      id: worker.id,
      host: "test-host",
      runtime: "node",
      queues: ["default"],
      concurrency: 4,
    });
    expect(typeof body.workers[0].in_flight).toBe("number");
    expect(typeof body.workers[0].processed).toBe("number");
  });

  test("GET /tasks/:id answers 404 for an unknown id", async () => {
    const { status, body } = await json(app.request("/tasks/no-such-task"));
    expect(status).toBe(404);
    expect(body).toEqual({ success: false, error: "task no-such-task not found", code: "not_found_error" });
  });

  test("an unexpected failure is a 500 that hides its details, and is logged", async () => {
    const logged: unknown[] = [];
    const api = createApi(env.edgeq, { onError: (err) => logged.push(err) });
    const page = env.edgeq.tasks.page;
    env.edgeq.tasks.page = () => Promise.reject(new TypeError("secret internals at /srv/app.ts:12"));
    try {
      const { status, body } = await json(api.request("/tasks"));
      expect(status).toBe(500);
      expect(body).toEqual({ success: false, error: "internal error", code: "internal_error" });
      expect(logged).toHaveLength(1);
    } finally {
      env.edgeq.tasks.page = page;
    }
  });

  test("an unknown route answers 404 in JSON", async () => {
    const { status, body } = await json(app.request("/nope"));
    expect(status).toBe(404);
    expect(body.error).toMatch(/no route for GET \/nope/);
  });
});

describe("batch submission", () => {
  const batch = (body: unknown, path = "/tasks/batch") => json(app.request(path, { method: "POST", body: JSON.stringify(body) }));

  test("POST /tasks/batch stores every task, in order, across queues, and each completes", async () => {
    const tasks = [
      { type: "process", data: "one" },
      { type: "process", data: "two", priority: "high" },
      { type: "process", data: "three", queue: "batch-other", id: "batch-three" },
    ];
    const { status, body } = await batch(tasks);
    expect(status).toBe(201);
    expect(body).toMatchObject({ success: true, accepted: 3 });
    expect(body.tasks.map((t: { priority: string; queue: string }) => [t.queue, t.priority])).toEqual([["default", "normal"], ["default", "high"], ["batch-other", "normal"]]);
    expect(body.tasks[2]).toMatchObject({ task_id: "batch-three", status: "pending", duplicate: false });
    // Pending, the third is readable from its message alone: no worker serves its queue.
    expect((await json(app.request("/tasks/batch-three"))).body).toMatchObject({ status: "pending", data: "three", queue: "batch-other" });
    for (const t of body.tasks.slice(0, 2)) expect(await waitDone(t.task_id)).toMatchObject({ status: "completed" });
    // The same batch again: the task with an id is a duplicate, and not counted as accepted.
    const again = await batch([tasks[2]]);
    expect(again.body).toMatchObject({ accepted: 0, tasks: [{ task_id: "batch-three", duplicate: true }] });
  });

  test("POST /tasks with an array is the same batch", async () => {
    const { status, body } = await batch([{ type: "process", data: "via /tasks" }], "/tasks");
    expect(status).toBe(201);
    expect(body).toMatchObject({ success: true, accepted: 1 });
    expect(await waitDone(body.tasks[0].task_id)).toMatchObject({ status: "completed", data: "via /tasks" });
  });

  test("a bad item, an empty batch or one over 1,000 tasks is a 400 naming it, and nothing of it is stored", async () => {
    const before = (await env.edgeq.jsm.streams.info(WORK_STREAM)).state.last_seq;
    const bad = await batch([{ type: "process" }, { type: "no spaces", data: 1 }]);
    expect(bad).toMatchObject({ status: 400, body: { success: false, code: "validation_error" } });
    expect(bad.body.error).toMatch(/1\.type: must be words/);
    expect((await batch([])).body.error).toMatch(/at least one task/);
    expect((await batch(Array.from({ length: 1001 }, () => ({ type: "process" })))).body.error).toMatch(/at most 1000 tasks/);
    expect((await batch({ type: "process" })).body.error).toMatch(/must be a JSON array of tasks/);
    expect((await env.edgeq.jsm.streams.info(WORK_STREAM)).state.last_seq).toBe(before);
  });
});

describe("bad input: a 4xx naming the problem, and nothing enqueued", () => {
  const cases: Array<[string, string | (() => string), number, RegExp, Record<string, string>?]> = [
    ["malformed JSON", '{"type": "process",', 400, /not valid JSON/],
    ["an empty body", "", 400, /body is empty/],
    ["a body that is an array", "[1, 2]", 400, /must be a JSON object/],
    ["a body that is a string", '"process"', 400, /must be a JSON object/],
    ["a body that is null", "null", 400, /must be a JSON object/],
    ["a missing type", '{"data": "x"}', 400, /type: is required/],
    ["a numeric type", '{"type": 42}', 400, /type: must be a string/],
    ["an empty type", '{"type": ""}', 400, /type: must not be empty/],
    ["a type with a wildcard", '{"type": "a.>"}', 400, /type: must be words/],
    ["a type with spaces", '{"type": "two words"}', 400, /type: must be words/],
    ["an unknown priority", '{"type": "process", "priority": "urgent"}', 400, /priority: must be one of high, normal, low/],
    ["a bad queue name", '{"type": "process", "queue": "a.b"}', 400, /queue: must be 1-64/],
    ["a bad max_attempts", '{"type": "process", "max_attempts": 0}', 400, /max_attempts: must be at least 1/],
    ["an unknown field", '{"type": "process", "priorty": "high"}', 400, /Unrecognized key: "priorty"/],
    ["a __proto__ key", '{"type": "process", "__proto__": {"x": 1}}', 400, /__proto__/],
    ["a body over 1 MiB", () => JSON.stringify({ type: "process", data: "a".repeat(1024 * 1024) }), 413, /exceeds 1048576 bytes/],
    ["a body over 1 MiB without a length", () => JSON.stringify({ type: "process", data: "a".repeat(1024 * 1024 + 10) }), 413, /exceeds/, {}],
  ];

  test.each(cases)("%s", async (_name, body, expectedStatus, message, headers) => {
    const before = await counts();
    const res = await post(typeof body === "function" ? body() : body, headers);
    expect(res.status).toBe(expectedStatus);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    const answer = await res.json();
    expect(answer.success).toBe(false);
    expect(answer.error).toMatch(message);
    expect(JSON.stringify(answer)).not.toMatch(/\bat .*\.ts:\d+/);
    expect(await counts()).toEqual(before);
  });

  test("a Content-Length over the limit is refused before the body is read", async () => {
    const before = await counts();
    const res = await post('{"type": "process"}', { "Content-Type": "application/json", "Content-Length": String(2 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatch(/exceeds 1048576 bytes/);
    expect(await counts()).toEqual(before);
  });

  test("the dead-letter routes refuse bodies over the limit too", async () => {
    const body = JSON.stringify({ max_attempts: 2, pad: "a".repeat(1024 * 1024) });
    for (const path of ["/dead-letters/requeue", "/dead-letters/some-id/requeue"]) {
      const res = await app.request(path, { method: "POST", body });
      expect(res.status, path).toBe(413);
      expect((await res.json()).error, path).toMatch(/exceeds 1048576 bytes/);
    }
  });

  test("data just under the body limit but over what a record can hold is refused with 413", async () => {
    const before = await counts();
    const res = await post(JSON.stringify({ type: "process", data: "a".repeat(1024 * 1024 - 100) }));
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatch(/task data is \d+ bytes; the limit is \d+/);
    expect(await counts()).toEqual(before);
  });

  test("bad list queries and ids are 400s", async () => {
    const cases = ["/tasks?status=weird", "/tasks?limit=abc", "/tasks?limit=0", "/tasks?limit=100000", "/tasks/..%2F..%2Fetc", "/tasks/a.b"];
    for (const path of cases) {
      const { status, body } = await json(app.request(path));
      expect(status, path).toBe(400);
      expect(body.error, path).toMatch(/invalid (query|task id)/);
    }
  });

  /** Messages in the work stream and records in the tasks bucket. */
  async function counts() {
    const [work, records] = await Promise.all([
      env.edgeq.jsm.streams.info(WORK_STREAM),
      env.edgeq.jsm.streams.info(`KV_${TASKS_BUCKET}`),
    ]);
    return { work: work.state.messages + work.state.last_seq, records: records.state.last_seq };
  }
});

describe("NATS unreachable", () => {
  test("POST /tasks answers 503 with a JSON error at once, /health says unhealthy, and both recover", async () => {
    const server = await NatsServer.start();
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    try {
      const edgeq = await Edgeq.open(nc);
      const api = createApi(edgeq, { onError: () => {} });
      const watch = await RecordWatch.start(edgeq);
      const before = await api.request("/tasks", { method: "POST", body: '{"type": "process", "data": "before"}' });
      expect(before.status).toBe(201);
      await server.kill("SIGKILL");
      await eventually(async () => !edgeq.connection.up, 5000, "the client to notice the disconnect");

      const started = Date.now();
      const res = await api.request("/tasks", { method: "POST", body: '{"type": "process"}' });
      expect(Date.now() - started).toBeLessThan(1000);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(await res.json()).toMatchObject({ success: false, code: "unavailable_error" });
      const health = await api.request("/health");
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: "unhealthy" });
      expect((await api.request("/tasks")).status).toBe(503);

      await server.restart();
      await eventually(async () => edgeq.connection.up, 10_000, "the client to reconnect");
      const again = await api.request("/tasks", { method: "POST", body: '{"type": "process", "data": "after"}' });
      expect(again.status).toBe(201);
      // The task accepted before the kill and the one after both run once the server is back.
      const worker = await edgeq.worker(handlers, { onError: () => {} });
      const ids = [(await before.json()).task_id, (await again.json()).task_id];
      await checkInvariants(edgeq, ids, { logs: [watch], expectStatus: "completed", ackedLeftoversAllowed: true });
      await worker.stop();
      await watch.stop();
    } finally {
      await nc.close();
      await server.stop();
    }
  });
});
