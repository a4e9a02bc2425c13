/**
 * GET /queues' rates: completed and failed per second over the last minute, from the workers'
 * heartbeats; and a task's key taken over HTTP and carried to its worker as Edgeq-Key.
 */
import { afterEach, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { PermanentError } from "../src/wire/errors.ts";
import { HEADER_KEY } from "../src/wire/names.ts";
import type { Worker } from "../src/worker/mod.ts";
import { OutcomeRates } from "../src/worker/outcome-rates.ts";
import type { TaskRecord } from "../src/wire/record.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
const api = () => createApi(env.edgeq, { onError: () => {} });

test("GET /queues lists each queue's completed and failed per second over the last minute, from the heartbeats", async () => {
  const worker = await env.edgeq.worker({
    ok: () => "fine",
    bad: () => {
      throw new PermanentError("no");
    },
  }, { queues: ["rates_a", "rates_b"], heartbeatIntervalMs: 200 });
  workers.push(worker);
  await env.edgeq.queue("rates_a").submitMany([...Array.from({ length: 30 }, () => ({ type: "ok" })), ...Array.from({ length: 6 }, () => ({ type: "bad" }))]);
  await env.edgeq.queue("rates_b").submitMany(Array.from({ length: 12 }, () => ({ type: "ok" })));
  const rates = async () => {
    const res = await api().request("/queues");
    const { queues } = await res.json() as { queues: { name: string; rates: unknown }[] };
    return Object.fromEntries(queues.map((q) => [q.name, q.rates]));
  };
  const listed = await eventually(async () => {
    const r = await rates();
    return (r.rates_a as { completed_per_s: number })?.completed_per_s === 0.5 && (r.rates_b as { completed_per_s: number })?.completed_per_s === 0.2 ? r : null;
  }, 20_000, "the rates of the last minute");
  expect(listed.rates_a).toEqual({ window_s: 60, completed_per_s: 0.5, failed_per_s: 0.1 });
  expect(listed.rates_b).toEqual({ window_s: 60, completed_per_s: 0.2, failed_per_s: 0 });
  expect(listed.default).toEqual({ window_s: 60, completed_per_s: 0, failed_per_s: 0 });
});

test("outcomes older than a minute leave the count; retries and cancels are not counted", () => {
  let now = 1_000_000;
  const rates = new OutcomeRates(() => now);
  const of = (status: TaskRecord["status"], queue = "q") => ({ status, queue }) as TaskRecord;
  rates.count(of("completed"));
  rates.count(of("dead"));
  rates.count(of("pending"));
  rates.count(of("canceled"));
  now += 30_000;
  rates.count(of("completed"));
  rates.count(of("failed", "other"));
  expect(rates.lastMinute()).toEqual({ q: { completed: 2, failed: 1 }, other: { completed: 0, failed: 1 } });
  now += 31_000;
  expect(rates.lastMinute()).toEqual({ q: { completed: 1, failed: 0 }, other: { completed: 0, failed: 1 } });
  now += 60_000;
  expect(rates.lastMinute()).toEqual({});
});

test("a task's key: taken by POST /tasks, carried as Edgeq-Key, refused when malformed", async () => {
  const res = await api().request("/tasks", { method: "POST", body: JSON.stringify({ type: "keyed", queue: "rates_key", key: "tenant-7" }) });
  expect(res.status).toBe(201);
  const { task_id } = await res.json() as { task_id: string };
  const msg = await env.edgeq.jsm.streams.getMessage("EDGEQ_TASKS", { last_by_subj: `edgeq.rates_key.normal.=${task_id}.keyed` });
  expect(msg?.header.get(HEADER_KEY)).toBe("tenant-7");
  // The record shows it: read from the message while pending.
  expect(await env.edgeq.tasks.get(task_id)).toMatchObject({ status: "pending", key: "tenant-7" });
  const bad = await api().request("/tasks", { method: "POST", body: JSON.stringify({ type: "keyed", key: "a.b" }) });
  expect(bad.status).toBe(400);
  expect((await bad.json()).error).toMatch(/key/);
  await expect(env.edgeq.queue("rates_key").submit("keyed", null, { key: "" })).rejects.toThrow(/key/);
});

test("a dead letter keeps its task's key, and its requeue carries it again", async () => {
  const worker = await env.edgeq.worker({ boom: () => { throw new Error("boom"); } }, { queues: ["rates_dead"] });
  workers.push(worker);
  const { id } = await env.edgeq.queue("rates_dead").submit("boom", null, { key: "tenant-9", maxAttempts: 1 });
  await eventually(async () => (await env.edgeq.tasks.get(id))?.status === "dead", 10_000, "the task to die");
  expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "dead", key: "tenant-9" });
  await worker.stop();
  const letter = await eventually(() => env.edgeq.deadLetters.get(id), 10_000, "its dead letter");
  expect(letter.headers[HEADER_KEY]).toBe("tenant-9");
  await env.edgeq.deadLetters.requeue(id);
  // Sent again to its work subject, as it was submitted.
  const msg = await env.edgeq.jsm.streams.getMessage("EDGEQ_TASKS", { last_by_subj: `edgeq.rates_dead.normal.=${id}.boom` });
  expect(msg?.header.get(HEADER_KEY)).toBe("tenant-9");
});
