/**
 * Task records under load and abuse: listing records near the size limit, entries that are not
 * records, and the sweep that expires finished tasks but keeps unfinished ones.
 */
import { afterEach, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { TASKS_BUCKET } from "../src/wire/names.ts";
import { newRecord, type TaskRecord } from "../src/wire/record.ts";
import type { Worker } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { putRecord, useNats } from "./helpers/setup.ts";

const env = useNats({ retentionMs: 1000 });
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await env.edgeq.jsm.streams.purge(`KV_${TASKS_BUCKET}`);
});

function record(i: number, fields: Partial<TaskRecord> = {}): TaskRecord {
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  const task = { id: `t-${i}`, type: "big", queue: "default", priority: "normal" as const, data: null };
  return newRecord(task, { status: "completed", attempts: 1, max_attempts: 3, created_at: at, ...fields });
}

test("listing 80 records of 900 KB each (72 MB) neither drops the connection nor returns part of them", async () => {
  const data = "x".repeat(900_000);
  for (let i = 0; i < 80; i += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, j) => putRecord(env.edgeq, record(i + j, { data }))));
  }
  let disconnects = 0;
  (async () => {
    for await (const s of env.nc.status()) if (s.type === "disconnect") disconnects++;
  })();
  const listed = await env.edgeq.tasks.list({ limit: 100 });
  expect(listed.map((r) => r.id)).toEqual(Array.from({ length: 80 }, (_, i) => `t-${79 - i}`));
  expect((await env.edgeq.tasks.list({ limit: 5 })).map((r) => r.id)).toEqual(["t-79", "t-78", "t-77", "t-76", "t-75"]);
  expect(disconnects).toBe(0);
  expect(env.edgeq.connection.up).toBe(true);
});

test("an entry that is not a record is skipped, and the API keeps answering", async () => {
  await putRecord(env.edgeq, record(1));
  await env.edgeq.buckets.tasks.put("garbage", new TextEncoder().encode("not json"));
  await putRecord(env.edgeq, record(2));
  const app = createApi(env.edgeq, { onError: () => {} });
  const res = await app.request("/tasks");
  expect(res.status).toBe(200);
  expect((await res.json()).tasks.map((t: TaskRecord) => t.id)).toEqual(["t-2", "t-1"]);
  expect((await app.request("/tasks/garbage")).status).toBe(404);
  expect((await app.request("/tasks", { method: "POST", body: '{"type": "x"}' })).status).toBe(201);
});

test("the sweep deletes finished records past the retention and keeps pending and running ones", async () => {
  await putRecord(env.edgeq, record(1, { status: "completed" }));
  await putRecord(env.edgeq, record(2, { status: "failed", error: "Error: no" }));
  await putRecord(env.edgeq, record(3, { status: "pending", attempts: 0 }));
  await putRecord(env.edgeq, record(4, { status: "running" }));
  expect(await env.edgeq.tasks.sweep(60_000)).toBe(0);
  await new Promise((r) => setTimeout(r, 50));
  expect(await env.edgeq.tasks.sweep(10)).toBe(2);
  expect(await env.edgeq.tasks.get("t-1")).toBeNull();
  expect(await env.edgeq.tasks.get("t-2")).toBeNull();
  // Besides the stored records, the listing holds the tasks pending in the work stream.
  expect((await env.edgeq.tasks.list({ limit: 10 })).map((r) => r.id).filter((id) => id.startsWith("t-"))).toEqual(["t-4", "t-3"]);
});

test("workers sweep on their own: a finished task's record is gone after the retention", async () => {
  workers.push(await env.edgeq.worker({ quick: () => "ok" }, { sweepIntervalMs: 200 }));
  const done = await env.edgeq.queue().submit("quick");
  const waiting = await env.edgeq.queue("nobody_serves_this").submit("quick");
  expect(await env.edgeq.tasks.waitFor(done.id, 5000)).toMatchObject({ status: "completed" });
  await eventually(async () => (await env.edgeq.tasks.get(done.id)) === null, 5000, "the record to be swept");
  expect((await env.edgeq.tasks.get(waiting.id))?.status).toBe("pending");
});

test("after an unanswered write, revisionHolding tells whether the bucket holds exactly that record", async () => {
  const written = record(1, { status: "running", seq: 7, worker_id: "w-1" });
  const revision = await putRecord(env.edgeq, written);
  expect(await env.edgeq.tasks.revisionHolding(written)).toBe(revision);
  // Another run's write, or none at all: not ours.
  expect(await env.edgeq.tasks.revisionHolding({ ...written, worker_id: "w-2" })).toBeNull();
  expect(await env.edgeq.tasks.revisionHolding(record(2))).toBeNull();
  // A record stored without its data, too large to keep in it, is recognised too.
  const large = record(3, { data: "x".repeat(env.edgeq.maxPayload) });
  const stored = await env.edgeq.tasks.putIfUnchanged(large, 0);
  expect(await env.edgeq.tasks.get(large.id)).toMatchObject({ data: null, data_omitted: true });
  expect(await env.edgeq.tasks.revisionHolding(large)).toBe(stored);
});

test("an outcome written while the record bucket is away is stored once it is back, not left to the ack wait", async () => {
  const stream = `KV_${TASKS_BUCKET}`;
  const { config } = await env.edgeq.jsm.streams.info(stream);
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  let release!: () => void;
  const errors: unknown[] = [];
  const gate = () => {
    started();
    return new Promise<string>((r) => (release = () => r("through")));
  };
  workers.push(await env.edgeq.worker({ gate }, { onError: (err) => errors.push(err) }));
  const { id } = await env.edgeq.queue().submit("gate");
  await running;
  await env.edgeq.jsm.streams.delete(stream);
  release();
  // The outcome's writes are refused meanwhile (no stream answers its subject) and tried again.
  await new Promise((r) => setTimeout(r, 1000));
  await env.edgeq.jsm.streams.add(config);
  // Well within the ack wait (30 s), after which a redelivery would run the task again.
  const done = await env.edgeq.tasks.waitFor(id, 5000);
  expect(done).toMatchObject({ status: "completed", result: "through", attempts: 1 });
  expect(errors).toEqual([]);
});
