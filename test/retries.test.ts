/**
 * Retry policies against a real server: backoff delays, per-type and per-queue defaults, permanent
 * failures, time-outs (a handler that hangs forever), bounded queues and idempotent submission.
 */
import { headers } from "@nats-io/nats-core";
import { afterEach, describe, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { PermanentError, QueueFullError, ValidationError } from "../src/wire/errors.ts";
import { consumerName, WORK_STREAM } from "../src/wire/names.ts";
import type { TaskRecord } from "../src/wire/record.ts";
import { parseBackoff, retryDelayMs } from "../src/wire/retry.ts";
import type { Handlers, Worker, WorkerOptions } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats({
  ackWaitMs: 2000,
  queues: { patient: { maxAttempts: 4, backoff: "fixed:50" }, bounded: { maxLength: 5 }, tight: { maxLength: 2 } },
  types: { "patient.strict": { maxAttempts: 1 } },
});
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(0)));
});

async function startWorker(handlers: Handlers, options: WorkerOptions = {}) {
  const worker = await env.edgeq.worker(handlers, { heartbeatIntervalMs: 200, ...options });
  workers.push(worker);
  return worker;
}

/** The consumer holds nothing more: every message was acknowledged or terminated. */
async function drained(queue: string, priority: "high" | "normal" | "low" = "normal") {
  await eventually(async () => {
    const info = await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName(queue, priority));
    return info.num_pending + info.num_ack_pending === 0;
  }, 5000, `queue ${queue} to drain`);
}

describe("backoff", () => {
  test("specs parse, and bad ones are refused", () => {
    expect(parseBackoff("exponential")).toEqual({ kind: "exponential", baseMs: 1000, maxMs: 60_000 });
    expect(parseBackoff("exponential:200:5000")).toEqual({ kind: "exponential", baseMs: 200, maxMs: 5000 });
    expect(parseBackoff("fixed:250")).toEqual({ kind: "fixed", delayMs: 250 });
    expect(parseBackoff("list:100,1000,5000")).toEqual({ kind: "list", delaysMs: [100, 1000, 5000] });
    for (const bad of ["", "fixed", "fixed:-1", "fixed:1,2", "list:", "list:a", "exponential:500:100", "linear:5", "fixed:1.5",
      "fixed:\r\n1000", "fixed: ", "fixed:0x10", "fixed:1e3", "list:1, 2", "exponential:10: 100"]) {
      expect(parseBackoff(bad), bad).toBeNull();
    }
  });

  test("exponential delays double up to the cap, jittered between half and all; lists repeat their last", () => {
    const exp = parseBackoff("exponential:100:1000")!;
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(exp, n, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(exp, n, () => 0))).toEqual([50, 100, 200, 400, 500]);
    const list = parseBackoff("list:10,20")!;
    expect([1, 2, 3].map((n) => retryDelayMs(list, n))).toEqual([10, 20, 20]);
  });

  test("a task is retried after the delays its backoff gives, its history keeps every attempt, onOutcome sees each", async () => {
    let calls = 0;
    const outcomes: TaskRecord[] = [];
    const worker = await startWorker({ flaky: () => { if (++calls < 3) throw new Error(`try ${calls}`); return "third time"; } }, {
      queues: ["backoff"],
      onOutcome: (record) => outcomes.push(record),
    });
    const { id } = await env.edgeq.queue("backoff").submit("flaky", null, { maxAttempts: 3, backoff: "list:300,900" });
    const done = await env.edgeq.tasks.waitFor(id, 10_000);
    expect(done).toMatchObject({ status: "completed", attempts: 3, result: "third time" });
    expect(outcomes.map((r) => [r.status, r.attempts, r.error])).toEqual([["pending", 1, "Error: try 1"], ["pending", 2, "Error: try 2"], ["completed", 3, "Error: try 2"]]);
    expect(outcomes.at(-1)).toEqual(done);
    expect(done!.history.map((a) => [a.attempt, a.error, a.worker_id])).toEqual([
      [1, "Error: try 1", worker.id],
      [2, "Error: try 2", worker.id],
      [3, null, worker.id],
    ]);
    const [first, second, third] = done!.history.map((a) => [Date.parse(a.started_at!), Date.parse(a.finished_at)]);
    expect(second[0] - first[1]).toBeGreaterThanOrEqual(290);
    expect(third[0] - second[1]).toBeGreaterThanOrEqual(890);
  });
});

describe("defaults per queue and type", () => {
  test("a submission's own setting wins, then its type's, then its queue's, then the global default", async () => {
    const queue = env.edgeq.queue("patient");
    const [fromQueue, fromType, own, global] = await Promise.all([
      queue.submit("patient.easy"),
      queue.submit("patient.strict"),
      queue.submit("patient.strict", null, { maxAttempts: 7 }),
      env.edgeq.queue("elsewhere").submit("patient.easy"),
    ]);
    const maxAttempts = async (id: string) => (await env.edgeq.tasks.get(id))?.max_attempts;
    expect(await Promise.all([fromQueue, fromType, own, global].map((t) => maxAttempts(t.id)))).toEqual([4, 1, 7, 3]);
  });

  test("a raw publish without policy headers gets the worker's defaults for its queue and type", async () => {
    let calls = 0;
    const easy = (_: unknown, ctx: { id: string }) => {
      if (ctx.id === "raw-patient") calls++;
      throw new Error("no");
    };
    await startWorker({ "patient.easy": easy }, { queues: ["patient"] });
    const h = headers();
    h.set("Nats-Msg-Id", "raw-patient");
    env.nc.publish("edgeq.patient.normal.patient.easy", new TextEncoder().encode("{}"), { headers: h });
    expect(await env.edgeq.tasks.waitFor("raw-patient", 10_000)).toMatchObject({ status: "dead", attempts: 4, max_attempts: 4 });
    expect(calls).toBe(4);
  });
});

describe("failures", () => {
  test("a PermanentError fails the task at once: one attempt, no retry, no dead letter", async () => {
    let calls = 0;
    await startWorker({ charge: () => { calls++; throw new PermanentError("card declined"); } }, { queues: ["permanent"] });
    const { id } = await env.edgeq.queue("permanent").submit("charge", null, { maxAttempts: 5, backoff: "fixed:10" });
    expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "failed", attempts: 1, error: "PermanentError: card declined" });
    await drained("permanent");
    expect(calls).toBe(1);
    await expect(env.edgeq.deadLetters.get(id)).rejects.toThrow(/no dead letter/);
  });

  test("a handler that hangs forever times out, is retried, then dead-lettered; the other slots keep working", async () => {
    const aborted: string[] = [];
    const hang = (_: unknown, ctx: { signal: AbortSignal }) =>
      new Promise(() => ctx.signal.addEventListener("abort", () => aborted.push(String(ctx.signal.reason))));
    await startWorker({ hang, quick: (n: number) => n * 2 }, { queues: ["hangs"], concurrency: 2 });
    const queue = env.edgeq.queue("hangs");
    const hung = await queue.submit("hang", null, { timeoutMs: 300, maxAttempts: 2, backoff: "fixed:100" });
    const quick = await queue.submitMany(Array.from({ length: 30 }, (_, i) => ({ type: "quick", data: i })));
    const results = await Promise.all(quick.map((t) => env.edgeq.tasks.waitFor(t.id, 5000)));
    expect(results.map((r) => r?.result)).toEqual(quick.map((_, i) => i * 2));
    const dead = await env.edgeq.tasks.waitFor(hung.id, 5000);
    expect(dead).toMatchObject({ status: "dead", attempts: 2, error: "TaskTimeoutError: attempt ran past its time-out of 300 ms" });
    expect(dead!.history.map((a) => a.error)).toEqual([dead!.error, dead!.error]);
    expect(aborted).toEqual([
      "TaskTimeoutError: attempt ran past its time-out of 300 ms",
      "TaskTimeoutError: attempt ran past its time-out of 300 ms",
    ]);
    expect((await env.edgeq.deadLetters.get(hung.id)).reason).toMatch(/TaskTimeoutError/);
  });
});

describe("bounded queues", () => {
  test("a full queue refuses submissions with QueueFullError and 429, and accepts again once drained", async () => {
    const queue = env.edgeq.queue("bounded");
    await queue.submitMany(Array.from({ length: 5 }, () => ({ type: "slow" })));
    await expect(queue.submit("slow")).rejects.toThrow(QueueFullError);
    await expect(queue.submitMany([{ type: "slow" }])).rejects.toThrow(/queue bounded is full: it holds 5 of at most 5/);

    const api = createApi(env.edgeq);
    const res = await api.request("/tasks", { method: "POST", body: '{"type": "slow", "queue": "bounded"}' });
    expect(res.status).toBe(429);
    expect(res.headers.get("Retry-After")).toBe("1");
    expect(await res.json()).toMatchObject({ success: false, code: "queue_full_error" });
    const stored = (await env.edgeq.jsm.streams.info(WORK_STREAM, { subjects_filter: "edgeq.bounded.>" })).state.subjects;
    expect(Object.values(stored ?? {}).reduce((a, b) => a + b, 0)).toBe(5);

    // With a wait, the submission goes through once a worker makes room.
    const waiting = queue.submit("slow", null, { waitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    await startWorker({ slow: () => null }, { queues: ["bounded"] });
    const accepted = await waiting;
    expect(await env.edgeq.tasks.waitFor(accepted.id, 5000)).toMatchObject({ status: "completed" });
  });
});

test("two submissions racing for the last place in a bounded queue: one is accepted, one refused", async () => {
  const queue = env.edgeq.queue("tight");
  await queue.submit("slow");
  const raced = await Promise.allSettled([queue.submit("slow"), queue.submit("slow")]);
  expect(raced.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
  expect((raced.find((r) => r.status === "rejected") as PromiseRejectedResult).reason).toBeInstanceOf(QueueFullError);
  // A duplicate stores nothing, so it does not take a place.
  await env.edgeq.jsm.streams.purge(WORK_STREAM, { filter: "edgeq.tight.>" });
  await new Promise((r) => setTimeout(r, 300)); // past the cached length
  const first = await queue.submit("slow", null, { id: "tight-1" });
  expect(await queue.submit("slow", null, { id: "tight-1" })).toMatchObject({ id: first.id, duplicate: true });
  await queue.submit("slow");
});

describe("idempotent submission", () => {
  test("the same Idempotency-Key returns the first task's id and queues nothing new", async () => {
    let runs = 0;
    await startWorker({ pay: () => ++runs }, { queues: ["idem"] });
    const api = createApi(env.edgeq);
    const post = (headers: Record<string, string>, body: object) =>
      api.request("/tasks", { method: "POST", headers, body: JSON.stringify({ type: "pay", queue: "idem", ...body }) });
    const first = await (await post({ "Idempotency-Key": "invoice 7/2026" }, {})).json();
    const again = await (await post({ "Idempotency-Key": "invoice 7/2026" }, {})).json();
    const inBody = await (await post({}, { idempotency_key: "invoice 7/2026" })).json();
    expect(first).toMatchObject({ success: true, duplicate: false });
    expect(again).toMatchObject({ success: true, task_id: first.task_id, duplicate: true });
    expect(inBody).toMatchObject({ task_id: first.task_id, duplicate: true });
    const lib = await env.edgeq.queue("idem").submit("pay", null, { idempotencyKey: "invoice 7/2026" });
    expect(lib).toMatchObject({ id: first.task_id, duplicate: true });

    expect(await env.edgeq.tasks.waitFor(first.task_id, 5000)).toMatchObject({ status: "completed", result: 1 });
    await drained("idem");
    expect(runs).toBe(1);

    const both = await post({}, { id: "x1", idempotency_key: "k" });
    expect(both.status).toBe(400);
    expect((await both.json()).error).toMatch(/either id or idempotencyKey/);
    await expect(env.edgeq.queue().submit("pay", null, { idempotencyKey: "" })).rejects.toThrow(ValidationError);
  });
});
