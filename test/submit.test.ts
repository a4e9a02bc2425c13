/**
 * The library and plain NATS publishes: one message format, outcomes recorded, priorities honoured,
 * failures retried then recorded, long tasks kept leased.
 */
import { headers } from "@nats-io/nats-core";
import { afterEach, describe, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { DiscardPolicy } from "@nats-io/jetstream";
import { PayloadTooLargeError, QueueFullError, UnavailableError, ValidationError } from "../src/wire/errors.ts";
import { Delivery } from "../src/nats/delivery.ts";
import { consumerName, taskSubject, WORK_STREAM } from "../src/wire/names.ts";
import { Puller } from "../src/nats/puller.ts";
import { newRecord } from "../src/wire/record.ts";
import type { Handlers, Worker, WorkerOptions } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { publishRequeued, putRecord, useNats } from "./helpers/setup.ts";

// A short ack wait so that a task whose lease is not kept would be redelivered within the test.
const env = useNats({ ackWaitMs: 1000 });
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

async function startWorker(handlers: Handlers, options: WorkerOptions = {}) {
  const worker = await env.edgeq.worker(handlers, { heartbeatIntervalMs: 200, ...options });
  workers.push(worker);
  return worker;
}

const echo: Handlers = { echo: (data, ctx) => ({ data, attempt: ctx.attempt, priority: ctx.priority }) };

describe("the library", () => {
  test("submit stores a pending record at once, and the worker completes it", async () => {
    const queue = env.edgeq.queue();
    const task = await queue.submit("echo", { n: 1 }, { priority: "high" });
    expect(task).toMatchObject({ type: "echo", queue: "default", priority: "high" });
    expect((await env.edgeq.tasks.get(task.id))?.status).toBe("pending");

    await startWorker(echo);
    const done = await env.edgeq.tasks.waitFor(task.id, 5000);
    expect(done).toMatchObject({ status: "completed", attempts: 1, result: { data: { n: 1 }, priority: "high" } });
  });

  test("submitMany submits a batch in order, every task completes", async () => {
    await startWorker(echo, { concurrency: 20 });
    const specs = Array.from({ length: 300 }, (_, i) => ({ type: "echo", data: i, priority: (["high", "normal", "low"] as const)[i % 3] }));
    const submitted = await env.edgeq.queue().submitMany(specs);
    expect(submitted.map((s) => s.priority)).toEqual(specs.map((s) => s.priority));
    const records = await Promise.all(submitted.map((s) => env.edgeq.tasks.waitFor(s.id, 15_000)));
    expect(records.map((r) => r?.status)).toEqual(specs.map(() => "completed"));
    expect(records.map((r) => (r?.result as { data: number }).data)).toEqual(specs.map((s) => s.data));
  });

  test("a caller-chosen id submitted twice inside the duplicate window runs once", async () => {
    let runs = 0;
    await startWorker({ once: () => ++runs });
    const queue = env.edgeq.queue();
    await queue.submit("once", null, { id: "order-42" });
    await queue.submit("once", null, { id: "order-42" });
    expect(await env.edgeq.tasks.waitFor("order-42", 5000)).toMatchObject({ status: "completed", result: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(runs).toBe(1);
  });

  test("lost acknowledgements: republished under the same id, stored once; if they persist, the caller gets the id", async () => {
    await startWorker(echo);
    const requests = env.edgeq.requests;
    const publish = requests.publish;
    const lastSeq = async () => (await env.edgeq.jsm.streams.info(WORK_STREAM)).state.last_seq;
    const firstSeq = await lastSeq();
    let lose = 0;
    // The work message is stored but its acknowledgement is lost (record writes go through as usual).
    requests.publish = async (...args: Parameters<typeof publish>) => {
      const ack = await publish.apply(requests, args);
      if (!args[0].startsWith("edgeq.") || lose-- <= 0) return ack;
      throw Object.assign(new Error("timeout"), { name: "TimeoutError" });
    };
    try {
      lose = 1;
      const once = await env.edgeq.queue().submit("echo", "first ack lost");
      lose = 100;
      const error = await env.edgeq.queue().submit("echo", "all acks lost", { id: "maybe-stored" }).catch((e) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error).toMatchObject({ taskId: "maybe-stored", message: expect.stringMatching(/may have been stored: resubmit it with the same id \(maybe-stored\)/) });
      const api = await createApi(env.edgeq).request("/tasks", { method: "POST", body: '{"type": "echo", "id": "api-maybe"}' });
      expect(api.status).toBe(503);
      expect(await api.json()).toMatchObject({ success: false, task_id: "api-maybe", code: "unavailable_error" });
      for (const id of [once.id, "maybe-stored", "api-maybe"]) {
        expect(await env.edgeq.tasks.waitFor(id, 5000), id).toMatchObject({ status: "completed", attempts: 1 });
      }
    } finally {
      requests.publish = publish;
    }
    // Three publishes of each, one message each: nothing is left over.
    expect((await lastSeq()) - firstSeq).toBe(3);
    const info = await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName("default", "normal"));
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  test.each([
    ["an id reused after the duplicate window shows the new task as pending, not the old one's result", "reused-1", { status: "completed" as const, attempts: 1, result: "old result" }],
    ["a pending record no message was stored for (its submission got no answer) gives way to the task submitted again", "orphan-1", { status: "pending" as const, attempts: 0 }],
  ])("%s", async (_name, id, found) => {
    await putRecord(env.edgeq, newRecord({ id, type: "echo", queue: "default", priority: "normal", data: "old" }, {
      max_attempts: 3, created_at: "2026-01-01T00:00:00.000Z", ...found,
    }));
    await env.edgeq.queue().submit("echo", "new", { id });
    expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "pending", data: "new", result: null, created_at: expect.not.stringMatching(/^2026-01-01/) });
    await startWorker(echo);
    expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "completed", result: { data: "new" } });
  });

  test("a submission the work stream refuses leaves no record behind", async () => {
    const { config } = await env.edgeq.jsm.streams.info(WORK_STREAM);
    const { state } = await env.edgeq.jsm.streams.info(WORK_STREAM);
    // Full: the stream refuses any new message.
    await env.edgeq.jsm.streams.update(WORK_STREAM, { ...config, max_msgs: Math.max(1, state.messages), discard: DiscardPolicy.New });
    try {
      if (state.messages === 0) await env.edgeq.queue().submit("echo", "fills the stream");
      const error = await env.edgeq.queue().submit("echo", "refused", { id: "refused-1" }).catch((e) => e);
      expect(error).toBeInstanceOf(QueueFullError);
      expect(error.message).toMatch(/the work stream is full \(maximum messages exceeded\)/);
      const api = await createApi(env.edgeq).request("/tasks", { method: "POST", body: '{"type": "echo", "id": "refused-2"}' });
      expect(api.status).toBe(429);
      expect(await api.json()).toMatchObject({ success: false, code: "queue_full_error" });
      expect(await env.edgeq.tasks.get("refused-1")).toBeNull();
      expect(await env.edgeq.tasks.get("refused-2")).toBeNull();
    } finally {
      await env.edgeq.jsm.streams.update(WORK_STREAM, config);
    }
    await startWorker(echo);
    await eventually(async () => (await env.edgeq.jsm.streams.info(WORK_STREAM)).state.messages === 0, 5000, "the stream to drain");
  });

  test("a repeat inside the duplicate window whose first task's record is gone leaves no stray pending record", async () => {
    await startWorker(echo);
    await env.edgeq.queue().submit("echo", "first", { id: "swept-1" });
    expect(await env.edgeq.tasks.waitFor("swept-1", 5000)).toMatchObject({ status: "completed" });
    const { revision } = await env.edgeq.tasks.read("swept-1");
    expect(await env.edgeq.tasks.deleteIfUnchanged("swept-1", revision)).toBe(true);
    expect(await env.edgeq.queue().submit("echo", "again", { id: "swept-1" })).toMatchObject({ duplicate: true });
    expect(await env.edgeq.tasks.get("swept-1")).toBeNull();
  });

  test("bad submissions raise typed errors naming the problem", async () => {
    const queue = env.edgeq.queue();
    await expect(queue.submit("bad type!")).rejects.toThrow(ValidationError);
    await expect(queue.submit("echo", null, { priority: "urgent" as "high" })).rejects.toThrow(/priority: must be one of/);
    await expect(queue.submit("echo", 10n)).rejects.toThrow(/not serializable as JSON/);
    await expect(queue.submit("echo", "x".repeat(2 * 1024 * 1024))).rejects.toThrow(PayloadTooLargeError);
    await expect(queue.submitMany([{ type: "echo" }, { type: "" }])).rejects.toThrow(/task 1: invalid task type/);
    expect(() => env.edgeq.queue("no.dots")).toThrow(ValidationError);
    await expect(env.edgeq.worker({ echo: 5 as never })).rejects.toThrow(/handler "echo" is not a function/);
    await expect(env.edgeq.worker(echo, { concurrency: 0 })).rejects.toThrow(/concurrency/);
  });
});

describe("a plain NATS publish", () => {
  const app = () => createApi(env.edgeq, { onError: () => {} });
  const encode = (s: string) => new TextEncoder().encode(s);

  test("with a Nats-Msg-Id: that id is the task id, and the outcome is readable over HTTP", async () => {
    await startWorker(echo);
    const h = headers();
    h.set("Nats-Msg-Id", "from-go-client-1");
    env.nc.publish("edgeq.default.high.echo", encode('{"hello": "go"}'), { headers: h });
    const record = await env.edgeq.tasks.waitFor("from-go-client-1", 5000);
    expect(record).toMatchObject({ status: "completed", priority: "high", result: { data: { hello: "go" } } });
    const res = await app().request("/tasks/from-go-client-1");
    expect(await res.json()).toMatchObject({ id: "from-go-client-1", status: "completed", type: "echo" });
  });

  test("without headers, as `nats pub edgeq.default.high.process 'hello'`: the id is derived from the stream sequence", async () => {
    await startWorker(echo);
    env.nc.publish(taskSubject("default", "high", "echo"), encode("hello"));
    const record = await eventually(async () => {
      // A listing JetStream left unanswered on a loaded machine (UnavailableError) is polled again.
      const list = await env.edgeq.tasks.list({ limit: 50, status: "completed" }).catch((err) => {
        if (err instanceof UnavailableError) return [];
        throw err;
      });
      return list.find((r) => r.data === "hello");
    }, 5000, "the raw task to complete");
    expect(record.id).toMatch(/^seq-\d+$/);
    expect(record.result).toEqual({ data: "hello", attempt: 1, priority: "high" });
    expect((await app().request(`/tasks/${record.id}`)).status).toBe(200);
  });

  test("a dotted type and an Edgeq-Max-Attempts header are honoured", async () => {
    await startWorker({ "email.send": () => { throw new Error("smtp down"); } });
    const h = headers();
    h.set("Nats-Msg-Id", "mail-1");
    h.set("Edgeq-Max-Attempts", "1");
    env.nc.publish("edgeq.default.normal.email.send", encode("{}"), { headers: h });
    const record = await env.edgeq.tasks.waitFor("mail-1", 5000);
    expect(record).toMatchObject({ type: "email.send", status: "dead", attempts: 1, max_attempts: 1, error: "Error: smtp down" });
  });

  test("data too large to keep in the record once escaped: the task runs with it, the record omits it", async () => {
    let length = 0;
    await startWorker({ big: (data: string) => void (length = data.length) });
    // 600 KB of quotes is no JSON, so it is a string, and escaping doubles it past the 1 MiB limit.
    const h = headers();
    h.set("Nats-Msg-Id", "big-raw");
    env.nc.publish("edgeq.default.normal.big", encode('"'.repeat(600_000)), { headers: h });
    const record = await env.edgeq.tasks.waitFor("big-raw", 5000);
    expect(record).toMatchObject({ status: "completed", attempts: 1, data: null, data_omitted: true });
    expect(length).toBe(600_000);
  });

  test("a publish to an unknown priority is not captured by the stream", async () => {
    const reply = await env.nc.request("edgeq.default.urgent.echo", encode("{}"), { timeout: 1000 }).catch((e) => e);
    expect(reply).toBeInstanceOf(Error);
    expect(String((reply as Error).cause ?? reply)).toMatch(/no responders/i);
  });
});

describe("workers", () => {
  test("strict priority: with the worker busy, 20 normal then 5 high queued, the 5 high start first", async () => {
    const started: string[] = [];
    await startWorker(
      {
        block: () => new Promise((r) => setTimeout(r, 1000)),
        mark: (data: string) => void started.push(data),
      },
      // `running` stored soon, for the test to see the blocker run.
      { concurrency: 1, runningAfterMs: 100, priorityWeights: "strict" },
    );
    const queue = env.edgeq.queue();
    const blocker = await queue.submit("block");
    await eventually(async () => (await env.edgeq.tasks.get(blocker.id))?.status === "running", 5000, "the blocker to run");
    await queue.submitMany(Array.from({ length: 20 }, (_, i) => ({ type: "mark", data: `normal-${i}` })));
    await queue.submitMany(Array.from({ length: 5 }, (_, i) => ({ type: "mark", data: `high-${i}`, priority: "high" as const })));
    await eventually(async () => started.length === 25, 10_000, "all 25 to run");
    expect(started.slice(0, 5)).toEqual(["high-0", "high-1", "high-2", "high-3", "high-4"]);
    expect(started.slice(5)).toEqual(Array.from({ length: 20 }, (_, i) => `normal-${i}`));
  });

  test("a failing task is retried with a delay, then dead-lettered and its work message removed", async () => {
    let calls = 0;
    await startWorker({ flaky: () => { calls++; throw new Error(`attempt ${calls} broke`); } }, { queues: ["flaky"] });
    const { id } = await env.edgeq.queue("flaky").submit("flaky", null, { maxAttempts: 2, backoff: "fixed:1000" });
    const pending = await eventually(async () => {
      const r = await env.edgeq.tasks.get(id);
      return r?.error ? r : null;
    }, 5000, "the first failure to be recorded");
    expect(pending).toMatchObject({ status: "pending", attempts: 1, error: "Error: attempt 1 broke" });
    const failed = await env.edgeq.tasks.waitFor(id, 5000);
    expect(failed).toMatchObject({ status: "dead", attempts: 2, error: "Error: attempt 2 broke" });
    expect(Date.parse(failed!.finished_at!) - Date.parse(pending.updated_at)).toBeGreaterThanOrEqual(900);
    // Terminated, not left to be redelivered: the consumer holds nothing, and no third run follows.
    await eventually(async () => {
      const info = await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName("flaky", "normal"));
      return info.num_pending + info.num_ack_pending + info.num_redelivered === 0;
    }, 5000, "the failed task's message to leave the consumer");
    await new Promise((r) => setTimeout(r, 1500)); // past the 1 s ack wait
    expect(calls).toBe(2);
  });

  test("a task whose worker is busy with a long task goes to an idle worker instead of waiting", async () => {
    const blocking = await startWorker({ block: () => new Promise((r) => setTimeout(r, 3000)) }, { concurrency: 1 });
    const queue = env.edgeq.queue();
    const long = await queue.submit("block");
    await eventually(async () => (await env.edgeq.tasks.get(long.id))?.status === "running", 5000, "the long task to run");
    const idle = await startWorker({ quick: () => "done" }, { concurrency: 1 });
    const started = Date.now();
    const quick = await queue.submit("quick", null, { priority: "low" });
    expect(await env.edgeq.tasks.waitFor(quick.id, 2500)).toMatchObject({ status: "completed", worker_id: idle.id, attempts: 1 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await env.edgeq.tasks.get(long.id))?.worker_id).toBe(blocking.id);
  });

  test("a redelivered task whose outcome is already stored is acknowledged without running again", async () => {
    // Play a worker that stored the outcome and died before its ack reached the server.
    await env.edgeq.ensureQueue("lost_ack");
    const { id } = await env.edgeq.queue("lost_ack").submit("count");
    let first: Delivery | undefined;
    await new Puller(env.nc, env.edgeq.js.apiPrefix, WORK_STREAM, () => {}).pull(consumerName("lost_ack", "normal"), { batch: 1, noWait: true }, (m) => {
      first = new Delivery(m);
    });
    const createdAt = new Date(first!.storedAt).toISOString();
    const task = { id, type: "count", queue: "lost_ack", priority: "normal" as const, data: null };
    const stored = { status: "completed" as const, attempts: 1, max_attempts: 3, created_at: createdAt, seq: first!.streamSeq, result: "first run" };
    await putRecord(env.edgeq, newRecord(task, stored));

    let runs = 0;
    await startWorker({ count: () => ++runs }, { queues: ["lost_ack"] });
    await eventually(async () => {
      const info = await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName("lost_ack", "normal"));
      return info.num_pending + info.num_ack_pending === 0 && info.delivered.stream_seq > 0;
    }, 5000, "the message to be acknowledged");
    expect(runs).toBe(0);
    expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "completed", result: "first run" });
  });

  test("a pending record written before its message, as a requeue writes it, gives the run its history", async () => {
    const earlier = { attempt: 1, worker_id: "gone", started_at: "2026-01-01T00:00:00.000Z", finished_at: "2026-01-01T00:00:01.000Z", error: "Error: down" };
    const pending = newRecord({ id: "requeued-1", type: "echo", queue: "default", priority: "normal", data: "x" }, {
      status: "pending", attempts: 0, max_attempts: 3, created_at: "2026-01-01T00:00:02.000Z", history: [earlier],
    });
    await putRecord(env.edgeq, pending);
    await publishRequeued(env.edgeq, taskSubject("default", "normal", "echo"), "requeued-1", 1, "x");
    await startWorker(echo);
    const done = await env.edgeq.tasks.waitFor("requeued-1", 5000);
    expect(done).toMatchObject({ status: "completed", attempts: 1, result: { attempt: 1 } });
    expect(done?.history.map((a) => a.error)).toEqual(["Error: down", null]);
  });

  test("a task type no worker has a handler for waits, spending no attempt, shown as unserved, until a worker with one comes", async () => {
    const without = await startWorker(echo, { heartbeatIntervalMs: 100 });
    const { id } = await env.edgeq.queue().submit("unknown.kind", "x", { maxAttempts: 1 });
    await eventually(async () => (await env.edgeq.health()).unserved_types.includes("unknown.kind"), 5000, "the type reported unserved");
    expect((await env.edgeq.queues.list()).find((q) => q.name === "default")?.unserved_types).toEqual(["unknown.kind"]);
    await new Promise((r) => setTimeout(r, 1500)); // given back, and delivered again, more than once
    expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "pending", attempts: 0 });
    // It comes back within its current delay (2 s by now) to the worker that has the handler.
    await without.stop();
    await startWorker({ "unknown.kind": (data: string) => `done ${data}` }, { heartbeatIntervalMs: 100 });
    expect(await env.edgeq.tasks.waitFor(id, 15_000)).toMatchObject({ status: "completed", attempts: 1, result: "done x" });
    await eventually(async () => (await env.edgeq.health()).unserved_types.length === 0, 5000, "no type unserved");
  });

  test("a result the record cannot hold fails the task at once instead of retrying it", async () => {
    await startWorker({ bigint: () => 10n, huge: () => "x".repeat(2 * 1024 * 1024) });
    const queue = env.edgeq.queue();
    const [bigint, huge] = await Promise.all([queue.submit("bigint"), queue.submit("huge")]);
    expect(await env.edgeq.tasks.waitFor(bigint.id, 5000)).toMatchObject({
      status: "failed",
      attempts: 1,
      result: null,
      error: expect.stringMatching(/^ValidationError: .* not serializable as JSON/),
    });
    expect(await env.edgeq.tasks.waitFor(huge.id, 5000)).toMatchObject({
      status: "failed",
      attempts: 1,
      error: expect.stringMatching(/^PayloadTooLargeError: .* the limit is \d+/),
    });
  });

  test("a task running past the ack wait is kept leased, not redelivered", async () => {
    let runs = 0;
    await startWorker({ slow: () => (runs++, new Promise((r) => setTimeout(() => r("done"), 3500))) }, { concurrency: 2 });
    const { id } = await env.edgeq.queue().submit("slow");
    expect(await env.edgeq.tasks.waitFor(id, 10_000)).toMatchObject({ status: "completed", attempts: 1, result: "done" });
    expect(runs).toBe(1);
  });

  test("workers serve only their queues", async () => {
    await startWorker(echo, { queues: ["reports"] });
    const other = await env.edgeq.queue("emails").submit("echo");
    const mine = await env.edgeq.queue("reports").submit("echo", "r");
    expect(await env.edgeq.tasks.waitFor(mine.id, 5000)).toMatchObject({ status: "completed", queue: "reports" });
    expect((await env.edgeq.tasks.get(other.id))?.status).toBe("pending");
  });
});
