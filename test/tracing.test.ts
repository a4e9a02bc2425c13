/**
 * OpenTelemetry across two processes: this one submits (the library, in an active span, and
 * `POST /tasks` with an incoming `traceparent`) with the SDK's in-memory exporter; a worker process
 * registers the SDK too and prints its finished spans. Each run is a CONSUMER span in the
 * submission's trace, child of its PRODUCER span, also after a delay and after a dead letter's
 * requeue, and for the tasks of a flow; a failed run records its error. Workers on Bun and Deno, registering the same SDK, too.
 * Without an SDK, a submission sends no trace headers.
 */
import { spawn } from "node:child_process";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { taskSubject, WORK_STREAM } from "../src/wire/names.ts";
import { DENO } from "../deploy/commands.ts";
import { EdgeqProcess, eventually, ROOT } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";
import { registerTracing, type SpanJson, spanJson } from "./helpers/tracing.ts";

const env = useNats();
const QUEUE = "traced";
const exporter = new InMemorySpanExporter();
const RUNTIMES = {
  node: [process.execPath, "--import", "tsx"],
  bun: [`${ROOT}node_modules/.bin/bun`],
  deno: [DENO, "run", "-A", "--no-lock"],
};
const workers: EdgeqProcess[] = [];
let worker: EdgeqProcess;

/** A worker process on `runtime` that registers the SDK, serving `queue`. */
async function startWorker(runtime: keyof typeof RUNTIMES, queue: string): Promise<EdgeqProcess> {
  const [command, ...args] = RUNTIMES[runtime];
  const proc = new EdgeqProcess(spawn(command, [...args, "test/fixtures/traced-worker.ts"], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: env.server.url, EDGEQ_QUEUE: queue },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  }));
  workers.push(proc);
  await proc.waitFor(/^ready$/m, 60_000);
  return proc;
}

beforeAll(async () => {
  worker = await startWorker("node", QUEUE);
});
afterAll(() => Promise.all(workers.map((w) => w.stop())));

/** The spans of task `id` a worker process printed, once `count` have ended. */
function runSpans(id: string, count: number, from = worker): Promise<SpanJson[]> {
  return eventually(async () => {
    const lines = from.output.split("\n").filter((l) => l.startsWith("span "));
    const spans = lines.map((l) => JSON.parse(l.slice(5)) as SpanJson).filter((s) => s.attributes["edgeq.task.id"] === id);
    return spans.length >= count ? spans : null;
  }, 30_000, `${count} run spans of ${id}`);
}
const runSpan = async (id: string) => (await runSpans(id, 1))[0];

/** This process's span of the submission of task `id`. */
function submitSpan(id: string) {
  const span = exporter.getFinishedSpans().find((s) => s.attributes["edgeq.task.id"] === id);
  expect(span, `the submit span of ${id}`).toBeDefined();
  return spanJson(span!);
}

test("without an SDK, a submission carries no trace headers", async () => {
  const task = await env.edgeq.queue(QUEUE).submit("echo", 1);
  const msg = await env.edgeq.jsm.streams.getMessage(WORK_STREAM, { last_by_subj: taskSubject(QUEUE, "normal", "echo", task.id) });
  expect(msg?.header?.keys()).toEqual(expect.not.arrayContaining(["traceparent", "tracestate"]));
  expect(exporter.getFinishedSpans()).toEqual([]);
});

test("a library submission in an active span: the worker's run is its grandchild, in another process", async () => {
  registerTracing(exporter);
  const tracer = trace.getTracer("test");
  const { id, parent } = await tracer.startActiveSpan("order", async (span) => {
    const submitted = await env.edgeq.queue(QUEUE).submit("echo", { n: 1 });
    span.end();
    return { id: submitted.id, parent: span.spanContext() };
  });
  const producer = submitSpan(id);
  expect(producer).toMatchObject({ name: "edgeq.submit echo", kind: SpanKind.PRODUCER, traceId: parent.traceId, parentSpanId: parent.spanId });
  const run = await runSpan(id);
  expect(run).toMatchObject({
    name: "edgeq.run echo",
    kind: SpanKind.CONSUMER,
    traceId: parent.traceId,
    parentSpanId: producer.spanId,
    attributes: { "edgeq.task.id": id, "edgeq.queue": QUEUE, "edgeq.task.type": "echo", "edgeq.attempt": 1 },
    status: { code: SpanStatusCode.UNSET },
  });
});

test("POST /tasks continues the request's trace; a failed run is an ERROR span with the exception", async () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const callerSpan = "00f067aa0ba902b7";
  const res = await createApi(env.edgeq).request("/tasks", {
    method: "POST",
    headers: { "content-type": "application/json", traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: "vendor=abc" },
    body: JSON.stringify({ type: "broken", queue: QUEUE }),
  });
  expect(res.status).toBe(201);
  const { task_id: id } = await res.json();
  const producer = submitSpan(id);
  expect(producer).toMatchObject({ kind: SpanKind.PRODUCER, traceId, parentSpanId: callerSpan });
  const msg = await env.edgeq.jsm.streams.getMessage(WORK_STREAM, { last_by_subj: taskSubject(QUEUE, "normal", "broken", id) }).catch(() => null);
  // The message may be gone (acknowledged) already; when it is still there, it carries both headers.
  if (msg) expect(msg.header?.get("tracestate")).toBe("vendor=abc");
  const run = await runSpan(id);
  expect(run).toMatchObject({
    name: "edgeq.run broken",
    kind: SpanKind.CONSUMER,
    traceId,
    parentSpanId: producer.spanId,
    status: { code: SpanStatusCode.ERROR, message: "PermanentError: cannot be done" },
    events: ["exception"],
  });
});

test("a delayed task keeps the link through the delayed stream and its promotion", async () => {
  const scheduler = env.edgeq.scheduler({ holder: "tracing-test" });
  try {
    const tracer = trace.getTracer("test");
    const { id, traceId } = await tracer.startActiveSpan("later", async (span) => {
      const submitted = await env.edgeq.queue(QUEUE).submit("echo", "later", { delayMs: 300 });
      span.end();
      return { id: submitted.id, traceId: span.spanContext().traceId };
    });
    const producer = submitSpan(id);
    const run = await runSpan(id);
    expect(run).toMatchObject({ kind: SpanKind.CONSUMER, traceId, parentSpanId: producer.spanId });
  } finally {
    await scheduler.stop();
  }
});

test("a batch through the library: one PRODUCER span per task, each the parent of its run", async () => {
  const submitted = await env.edgeq.queue(QUEUE).submitMany([{ type: "echo", data: 1 }, { type: "echo", data: 2 }]);
  for (const { id } of submitted) {
    const producer = submitSpan(id);
    expect(producer.parentSpanId).toBeUndefined(); // no active span: the submission starts the trace
    expect(await runSpan(id)).toMatchObject({ traceId: producer.traceId, parentSpanId: producer.spanId });
  }
});

test("a flow keeps the link: a task that waited runs as the child of its own submit span", async () => {
  const tracer = trace.getTracer("test");
  const { traceId } = await tracer.startActiveSpan("flow", async (span) => {
    await env.edgeq.flow({ nodes: [{ id: "traced-p", type: "echo", queue: QUEUE }, { id: "traced-c", type: "echo", queue: QUEUE }], edges: [{ from: "traced-p", to: "traced-c" }] });
    span.end();
    return { traceId: span.spanContext().traceId };
  });
  for (const id of ["traced-p", "traced-c"]) {
    const producer = submitSpan(id);
    expect(producer.traceId).toBe(traceId);
    expect(await runSpan(id)).toMatchObject({ kind: SpanKind.CONSUMER, traceId, parentSpanId: producer.spanId });
  }
});

test("a dead letter keeps the trace context, and its requeued run is another child of the submit span", async () => {
  const { id } = await env.edgeq.queue(QUEUE).submit("flaky", null, { maxAttempts: 1 });
  const producer = submitSpan(id);
  expect(await env.edgeq.tasks.waitFor(id, 10_000)).toMatchObject({ status: "dead" });
  const letter = await env.edgeq.deadLetters.get(id);
  expect(letter.headers.traceparent).toContain(producer.spanId);
  await env.edgeq.deadLetters.requeue(id);
  const runs = await runSpans(id, 2);
  expect(runs.map((r) => [r.traceId, r.parentSpanId, r.attributes["edgeq.attempt"], r.status.code])).toEqual([
    [producer.traceId, producer.spanId, 1, SpanStatusCode.ERROR],
    [producer.traceId, producer.spanId, 1, SpanStatusCode.ERROR],
  ]);
});

test.each(["bun", "deno"] as const)("a worker on %s, with the SDK registered there, runs the task as the submit span's child", async (runtime) => {
  const queue = `traced-${runtime}`;
  const other = await startWorker(runtime, queue);
  const { id, traceId } = await trace.getTracer("test").startActiveSpan(runtime, async (span) => {
    const submitted = await env.edgeq.queue(queue).submit("echo", runtime);
    span.end();
    return { id: submitted.id, traceId: span.spanContext().traceId };
  });
  const [run] = await runSpans(id, 1, other);
  expect(run).toMatchObject({ kind: SpanKind.CONSUMER, traceId, parentSpanId: submitSpan(id).spanId, attributes: { "edgeq.queue": queue } });
});
