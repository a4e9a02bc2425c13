/**
 * The invariant checker every fault test ends with (test/helpers/invariants.ts) fails when an
 * invariant is broken: each case below breaks one on a real server, as a bug would.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { newRecord } from "../src/wire/record.ts";
import type { Worker } from "../src/worker/mod.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { putRecord, useNats } from "./helpers/setup.ts";

const env = useNats();
let watch: RecordWatch;
let worker: Worker;
beforeAll(async () => {
  watch = await RecordWatch.start(env.edgeq);
  worker = await env.edgeq.worker({ ok: (n: number) => n + 1 }, { queues: ["inv"] });
});
afterAll(async () => {
  await worker?.stop();
  await watch?.stop();
});

const check = (ids: string[]) => checkInvariants(env.edgeq, ids, { logs: [watch], settleMs: 0 });

test("tasks that completed once pass, and the watch saw every revision", async () => {
  const submitted = await env.edgeq.queue("inv").submitMany([1, 2, 3].map((n) => ({ type: "ok", data: n })));
  await Promise.all(submitted.map((s) => env.edgeq.tasks.waitFor(s.id, 10_000)));
  const report = await checkInvariants(env.edgeq, submitted.map((s) => s.id), { logs: [watch], expectStatus: "completed" });
  expect(report).toMatchObject({ accepted: 3, outcomes: { completed: 3 }, revisionsMissed: 0 });
});

test("an outcome overwritten by another is caught, though the record ends final", async () => {
  const { id } = await env.edgeq.queue("inv").submit("ok", 1);
  const done = (await env.edgeq.tasks.waitFor(id, 10_000))!;
  await putRecord(env.edgeq, { ...done, status: "failed", error: "Error: a second outcome" });
  await expect(check([id])).rejects.toThrow(/final completed overwritten by failed/);
});

test("an accepted task with neither record nor message is reported lost; one still pending, unfinished", async () => {
  await expect(check(["never-stored"])).rejects.toThrow(/never-stored: accepted, but no record/);
  const { id } = await env.edgeq.queue("nobody").submit("ok", 1);
  await expect(check([id])).rejects.toThrow(/not finished \(pending\)/);
});

test("a dead record without its letter, attempts past max_attempts, and a work message left for a finished task are caught", async () => {
  const record = (id: string, queue: string, status: "dead" | "completed", attempts: number) =>
    newRecord({ id, type: "ok", queue, priority: "normal", data: 1 }, { status, attempts, max_attempts: 2, created_at: new Date().toISOString() });
  const dead = record("dead-no-letter", "inv", "dead", 2);
  await putRecord(env.edgeq, dead);
  await expect(check([dead.id])).rejects.toThrow(/dead, but no dead letter/);

  const over = record("over", "inv", "completed", 4);
  await putRecord(env.edgeq, over);
  await expect(check([over.id])).rejects.toThrow(/4 attempts, max_attempts 2 \+ slack 1/);

  // A task no worker serves, its record written final as a bug might: its message is still there.
  const { id } = await env.edgeq.queue("nobody").submit("ok", 1);
  await putRecord(env.edgeq, record(id, "nobody", "completed", 1));
  await expect(check([id])).rejects.toThrow(/its work message edgeq\.nobody\.normal\.=.* is still in EDGEQ_TASKS/);
});
