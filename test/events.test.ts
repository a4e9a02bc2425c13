/**
 * Task events over a real nats-server: every state change publishes its event with the documented
 * fields (submitted, delayed, promoted, started, progress, retried, completed, failed, dead,
 * canceled); `GET /events` streams them as SSE over a real HTTP connection, filtered, and closes its
 * subscription when the client goes; `waitFor` is woken by them.
 */
import { afterAll, afterEach, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { nodeRuntime } from "../src/adapter/node/runtime.ts";
import { PermanentError } from "../src/wire/errors.ts";
import type { TaskEvent } from "../src/events/event.ts";
import type { EventFilter, EventSubscription } from "../src/events/subscription.ts";
import { waitForOutcome } from "../src/events/wait.ts";
import type { Served } from "../src/adapter/runtime.ts";
import type { TaskContext } from "../src/worker/options.ts";
import type { Worker } from "../src/worker/mod.ts";
import { parseApiTokens } from "../src/api/auth.ts";
import { freePort } from "./helpers/nats-server.ts";
import { eventually, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats({ backoff: "fixed:100" });
const workers: Worker[] = [];
const subscriptions: EventSubscription[] = [];
afterEach(async () => {
  subscriptions.splice(0).forEach((s) => s.close());
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

/** Collects the events `filter` picks from now on. */
async function record(filter: EventFilter): Promise<TaskEvent[]> {
  const seen: TaskEvent[] = [];
  const sub = env.edgeq.events.subscribe(filter, (e) => seen.push(e));
  subscriptions.push(sub);
  await sub.ready();
  return seen;
}

const ofTask = (seen: TaskEvent[], id: string) => seen.filter((e) => e.task_id === id);
const names = (seen: TaskEvent[], id: string) => ofTask(seen, id).map((e) => e.event);
/**
 * A task's events with its submission's first: events are ordered per publisher, and the
 * submitter publishes once the stream acknowledged the task, by when a worker may have started it.
 */
const submittedFirst = (seen: TaskEvent[], id: string) => {
  const events = ofTask(seen, id);
  return [...events.filter((e) => e.event === "submitted"), ...events.filter((e) => e.event !== "submitted")];
};

test("a task that completes: submitted, started, progress, completed, with the documented fields", async () => {
  const seen = await record({ queue: "ev-ok" });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const worker = await env.edgeq.worker({
    async "report.build"(_data, ctx: TaskContext) {
      ctx.progress(40);
      await gate;
      return "built";
    },
  }, { queues: ["ev-ok"] });
  workers.push(worker);
  const before = Date.now();
  const { id } = await env.edgeq.queue("ev-ok").submit("report.build", { n: 1 }, { priority: "high" });
  await eventually(async () => names(seen, id).includes("progress") || null, 10_000, "the progress event");
  release();
  await eventually(async () => names(seen, id).includes("completed") || null, 10_000, "the completed event");
  expect(submittedFirst(seen, id).map((e) => e.event)).toEqual(["submitted", "started", "progress", "completed"]);
  const [submitted, started, progress, completed] = submittedFirst(seen, id);
  const common = { task_id: id, queue: "ev-ok", type: "report.build", priority: "high" };
  expect(submitted).toEqual({ event: "submitted", ...common, status: "pending", attempt: 0, worker_id: null, at: expect.any(Number) });
  expect(started).toMatchObject({ ...common, status: "running", attempt: 1, worker_id: worker.id, wait_ms: expect.any(Number) });
  expect(progress).toMatchObject({ ...common, status: "running", attempt: 1, worker_id: worker.id, progress: 40 });
  expect(completed).toMatchObject({ ...common, status: "completed", attempt: 1, worker_id: worker.id, run_ms: expect.any(Number) });
  expect(completed.error).toBeUndefined();
  for (const e of ofTask(seen, id)) expect(e.at).toBeGreaterThanOrEqual(before - 1000);
  expect(started.wait_ms).toBeGreaterThanOrEqual(0);
  expect(completed.run_ms).toBeGreaterThan(0);
});

test("a retried task that dies, and one that fails for good: retried, dead, failed with their errors", async () => {
  const seen = await record({ queue: "ev-bad" });
  workers.push(await env.edgeq.worker({
    flaky: () => {
      throw new Error("boom");
    },
    refuse: () => {
      throw new PermanentError("no");
    },
  }, { queues: ["ev-bad"] }));
  const queue = env.edgeq.queue("ev-bad");
  const dying = await queue.submit("flaky", null, { maxAttempts: 2 });
  const failing = await queue.submit("refuse");
  await eventually(async () => names(seen, dying.id).includes("dead") && names(seen, failing.id).includes("failed") || null, 15_000, "dead and failed");
  expect(submittedFirst(seen, dying.id).map((e) => e.event)).toEqual(["submitted", "started", "retried", "started", "dead"]);
  const [, , retried, second, dead] = submittedFirst(seen, dying.id);
  expect(retried).toMatchObject({ status: "pending", attempt: 1, error: "Error: boom", retry_in_ms: 100, run_ms: expect.any(Number), worker_id: workers[0].id });
  expect(second).toMatchObject({ status: "running", attempt: 2 });
  expect(dead).toMatchObject({ status: "dead", attempt: 2, error: "Error: boom", run_ms: expect.any(Number) });
  expect(submittedFirst(seen, failing.id).map((e) => e.event)).toEqual(["submitted", "started", "failed"]);
  expect(submittedFirst(seen, failing.id)[2]).toMatchObject({ status: "failed", attempt: 1, error: "PermanentError: no" });
});

test("a canceled task, and a delayed one: canceled, delayed, promoted", async () => {
  const seen = await record({ queue: "ev-later" });
  const queue = env.edgeq.queue("ev-later");
  const pending = await queue.submit("later");
  await env.edgeq.tasks.cancel(pending.id, "not needed");
  await eventually(async () => names(seen, pending.id).includes("canceled") || null, 5000, "the canceled event");
  expect(ofTask(seen, pending.id)[1]).toMatchObject({ event: "canceled", status: "canceled", error: "not needed", attempt: 0 });

  const scheduler = env.edgeq.scheduler({ holder: "events-test", onError: () => {} });
  workers.push(await env.edgeq.worker({ later: () => "done" }, { queues: ["ev-later"] }));
  try {
    const runAt = Date.now() + 300;
    const delayed = await queue.submit("later", null, { runAt });
    await eventually(async () => names(seen, delayed.id).includes("completed") || null, 15_000, "the delayed task to run");
    // Ordered per publisher only: the scheduler announces a promotion once its batch is acknowledged,
    // by when the worker (another publisher) may have started the task.
    expect(names(seen, delayed.id).sort()).toEqual(["completed", "delayed", "promoted", "started"]);
    const of = (event: string) => ofTask(seen, delayed.id).find((e) => e.event === event);
    expect(of("delayed")).toMatchObject({ status: "delayed", attempt: 0, worker_id: null, run_at: runAt });
    expect(of("promoted")).toMatchObject({ status: "pending", attempt: 0, worker_id: null, run_at: runAt });
    expect(of("promoted")!.at).toBeGreaterThanOrEqual(runAt);
  } finally {
    await scheduler.stop();
  }
});

test("a filter by event and task id picks exactly those; a bad filter is a ValidationError", async () => {
  workers.push(await env.edgeq.worker({ a: () => 1, b: () => 2 }, { queues: ["ev-filter"] }));
  const queue = env.edgeq.queue("ev-filter");
  const byType = await record({ queue: "ev-filter", type: "a", event: ["submitted", "completed"] });
  const one = await queue.submit("a");
  const byId = await record({ taskId: one.id });
  const tasks = [await queue.submit("b"), await queue.submit("a")];
  await env.edgeq.tasks.waitFor(tasks[1].id, 10_000);
  await eventually(async () => byType.filter((e) => e.event === "completed").length === 2 || null, 10_000, "both completions");
  expect(byType.every((e) => e.type === "a" && (e.event === "submitted" || e.event === "completed"))).toBe(true);
  expect(byType.map((e) => e.task_id).sort()).toEqual([one.id, one.id, tasks[1].id, tasks[1].id].sort());
  expect(byId.every((e) => e.task_id === one.id)).toBe(true);
  expect(() => env.edgeq.events.subscribe({ event: "finished" as never })).toThrow(/event: /);
  expect(() => env.edgeq.events.subscribe({ queue: "a.b" })).toThrow(/queue/);
});

test("an iterated subscription yields events until it is closed", async () => {
  const sub = env.edgeq.events.subscribe({ queue: "ev-iter", event: "submitted" });
  await sub.ready();
  const queue = env.edgeq.queue("ev-iter");
  const ids = [(await queue.submit("x")).id, (await queue.submit("x")).id];
  const got: string[] = [];
  for await (const event of sub) {
    got.push(event.task_id);
    if (got.length === 2) break;
  }
  expect(got).toEqual(ids);
  expect(sub.closed).toBe(true);
});

test("waitFor is woken by the task's events, not by polling", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  workers.push(await env.edgeq.worker({ slow: () => gate.then(() => "ok") }, { queues: ["ev-wait"] }));
  const { id } = await env.edgeq.queue("ev-wait").submit("slow");
  let reads = 0;
  const get = (taskId: string) => (reads++, env.edgeq.tasks.get(taskId));
  // A fallback far beyond the deadline: only an event can end the wait in time.
  const waiting = waitForOutcome(env.edgeq.events, get, id, 20_000, { fallbackFirstMs: 60_000, fallbackMaxMs: 60_000 });
  await eventually(async () => reads >= 2 || null, 5000, "the reads before the wait");
  setTimeout(release, 300);
  const record = await waiting;
  expect(record).toMatchObject({ id, status: "completed", result: "ok" });
  expect(reads).toBe(3); // before subscribing, after, and once woken
  // Through the library's door too, for a task that ended already and one still to run.
  expect((await env.edgeq.tasks.waitFor(id, 1000))?.status).toBe("completed");
});

test("waitFor still ends, by its slow read, when no event comes (a worker that publishes none)", async () => {
  const { Edgeq } = await import("../src/client/client.ts");
  const quiet = await Edgeq.open(env.nc, { events: false, backoff: "fixed:100" });
  // Ends after waitFor has subscribed: no event comes, so only the slow read can see it.
  workers.push(await quiet.worker({ quiet: () => new Promise((r) => setTimeout(() => r("shh"), 700)) }, { queues: ["ev-quiet"] }));
  const seen = await record({ queue: "ev-quiet" });
  const { id } = await env.edgeq.queue("ev-quiet").submit("quiet");
  expect((await env.edgeq.tasks.waitFor(id, 15_000))?.status).toBe("completed");
  expect(names(seen, id)).toEqual(["submitted"]); // the submitter publishes; the quiet worker does not
});

sseTests();

function sseTests() {
  let served: Served | undefined;
  afterAll(async () => {
    await served?.close();
  });

  /** Reads SSE messages from a real HTTP response until `until` says stop. */
  async function readSse(res: Response, until: (messages: string[]) => boolean): Promise<string[]> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const messages: string[] = [];
    let text = "";
    while (!until(messages)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const parts = text.split("\n\n");
      text = parts.pop()!;
      messages.push(...parts);
    }
    await reader.cancel();
    return messages;
  }

  test("GET /events over HTTP: filtered SSE messages, heartbeats, 400 for unknown keys, the subscription closed when the client goes", async () => {
    const app = createApi(env.edgeq, { onError: () => {}, eventsHeartbeatMs: 200 });
    served = await nodeRuntime.serve(app.fetch, 0);
    const base = `http://127.0.0.1:${served.port}`;

    const bad = await fetch(`${base}/events?queue=ev-sse&colour=red`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ success: false, code: "validation_error", error: expect.stringContaining("colour") });
    expect((await fetch(`${base}/events?event=finished`)).status).toBe(400);

    // Watch what the route subscribes, to see it closed.
    const opened: EventSubscription[] = [];
    const subscribe = env.edgeq.events.subscribe.bind(env.edgeq.events);
    env.edgeq.events.subscribe = (filter, callback) => {
      const sub = subscribe(filter, callback);
      opened.push(sub);
      return sub;
    };
    const controller = new AbortController();
    const res = await fetch(`${base}/events?queue=ev-sse&type=wanted&event=submitted,completed`, { signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    env.edgeq.events.subscribe = subscribe;
    expect(opened).toHaveLength(1);
    await opened[0].ready();

    workers.push(await env.edgeq.worker({ wanted: () => 1, other: () => 2 }, { queues: ["ev-sse"] }));
    const queue = env.edgeq.queue("ev-sse");
    const other = await queue.submit("other");
    const wanted = await queue.submit("wanted");
    const dataOf = (m: string) => m.split("\n").find((l) => l.startsWith("data: "))?.slice(6);
    const messages = await readSse(res, (ms) => ms.some((m) => m.startsWith("event: completed")) && ms.some((m) => m.startsWith(": heartbeat")));
    const events = messages.filter((m) => m.startsWith("event: "));
    expect(events.map((m) => m.split("\n")[0]).sort()).toEqual(["event: completed", "event: submitted"]);
    for (const m of events) {
      const body = JSON.parse(dataOf(m)!);
      expect(body).toMatchObject({ task_id: wanted.id, queue: "ev-sse", type: "wanted" });
      expect(m.split("\n")[0]).toBe(`event: ${body.event}`);
    }
    expect(messages.some((m) => m.includes(other.id))).toBe(false);
    expect(messages[0]).toBe(": connected");

    controller.abort();
    await eventually(async () => opened[0].closed || null, 5000, "the subscription to close once the client went");
  });

  test("GET /events needs the read scope when tokens are set", async () => {
    const [reader, submitter] = ["r".repeat(20), "s".repeat(20)];
    const app = createApi(env.edgeq, { onError: () => {}, tokens: parseApiTokens(`${reader}:read;${submitter}:submit`) });
    expect((await app.request("/events")).status).toBe(401);
    expect((await app.request("/events", { headers: { Authorization: `Bearer ${submitter}` } })).status).toBe(403);
    const res = await app.request("/events", { headers: { Authorization: `Bearer ${reader}` } });
    expect(res.status).toBe(200);
    await res.body!.cancel();
  });

  for (const runtime of ["deno", "bun"] as const) {
    test(`GET /events streams from edgeq serve on ${runtime}`, async () => {
      const port = await freePort();
      const proc = runEdgeq(runtime, ["serve"], { NATS_URL: env.server.url, PORT: String(port) });
      try {
        await proc.waitFor(/API listening/, 60_000);
        const res = await fetch(`http://127.0.0.1:${port}/events?queue=ev-${runtime}`);
        expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
        const reading = readSse(res, (ms) => ms.some((m) => m.startsWith("event: submitted")));
        // The stream is open once its first comment came: submit until the event is seen.
        const timer = setInterval(() => void env.edgeq.queue(`ev-${runtime}`).submit("x").catch(() => {}), 300);
        const messages = await reading.finally(() => clearInterval(timer));
        const event = JSON.parse(messages.find((m) => m.startsWith("event: submitted"))!.split("\ndata: ")[1]);
        expect(event).toMatchObject({ event: "submitted", queue: `ev-${runtime}`, type: "x", status: "pending" });
      } finally {
        await proc.stop();
      }
    }, 90_000);
  }
}
