/**
 * Compatibility: the task messages of the wire format as it stood on 2026-12-04, committed as a
 * fixture (test/fixtures/wire-format-2026-12.json) and published byte for byte, are still worked as
 * they were then, whatever the code has become. A change that breaks one breaks a rolling upgrade:
 * the messages queued by the old version must not be lost by the new one.
 */
import { readFileSync } from "node:fs";
import { headers } from "@nats-io/nats-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Scheduler } from "../src/delayed/mod.ts";
import { DEAD_STREAM, DELAY_SLOT_MS, DELAYED_SUBJECT_ROOT, HEADER_RUN_AT } from "../src/wire/names.ts";
import type { TaskContext } from "../src/worker/options.ts";
import type { Worker } from "../src/worker/mod.ts";
import { eventually, ROOT } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

interface FixtureMessage {
  what: string;
  subject: string;
  headers: [string, string][];
  body: string;
}
const fixture: { messages: FixtureMessage[] } = JSON.parse(readFileSync(`${ROOT}test/fixtures/wire-format-2026-12.json`, "utf8"));
const message = (id: string) => fixture.messages.find((m) => m.subject.includes(`=${id}.`) || m.headers.some(([, v]) => v === id || v.startsWith(`${id}:`)))!;

const env = useNats();
let worker: Worker;
let scheduler: Scheduler;
beforeAll(async () => {
  const echo = (data: unknown, ctx: TaskContext) => ({ data, priority: ctx.priority, maxAttempts: ctx.maxAttempts, attempt: ctx.attempt });
  worker = await env.edgeq.worker({ echo });
  scheduler = env.edgeq.scheduler({ holder: "wire-format" });
});
afterAll(async () => {
  await scheduler?.stop();
  await worker?.stop();
});

/** Publishes a fixture message as it is, but for a delayed one's slot and due time, set to `dueAt`. */
async function publish(m: FixtureMessage, dueAt?: number): Promise<number> {
  const h = headers();
  for (const [name, value] of m.headers) h.append(name, name === HEADER_RUN_AT && dueAt ? String(dueAt) : value);
  const subject = m.subject.startsWith(`${DELAYED_SUBJECT_ROOT}.`) && dueAt ? `${DELAYED_SUBJECT_ROOT}.${Math.floor(dueAt / DELAY_SLOT_MS)}` : m.subject;
  return (await env.edgeq.js.publish(subject, m.body, { headers: m.headers.length ? h : undefined })).seq;
}

test("messages of the 2026-12 wire format are worked as they were", async () => {
  await publish(message("wf-plain"));
  await publish(message("wf-timeout"));
  const rawSeq = await publish(fixture.messages.find((m) => m.subject === "edgeq.default.low.echo")!);
  await publish(message("wf-header-id"));
  await publish(message("wf-requeued"));
  await publish(message("wf-poison"));
  const dueAt = Date.now() + 500;
  await publish(message("wf-delayed"), dueAt);

  const done = (id: string) => env.edgeq.tasks.waitFor(id, 10_000);
  expect(await done("wf-plain")).toMatchObject({ status: "completed", result: { data: { n: 1 }, priority: "normal", maxAttempts: 3, attempt: 1 } });
  expect(await done("wf-timeout")).toMatchObject({ status: "completed", result: { data: "text", priority: "high", maxAttempts: 2 } });
  expect(await done(`seq-${rawSeq}`)).toMatchObject({ status: "completed", result: { data: "hello", priority: "low" } });
  expect(await done("wf-header-id")).toMatchObject({ status: "completed", result: { data: { n: 4 } } });
  expect(await done("wf-requeued")).toMatchObject({ status: "completed", result: { data: [1, 2] } });
  expect(await done("wf-poison")).toMatchObject({ status: "dead", error: expect.stringMatching(/Edgeq-Max-Attempts/) });
  const delayed = await done("wf-delayed");
  expect(delayed).toMatchObject({ status: "completed", result: { data: { later: true } } });
  expect(Date.parse(delayed!.started_at!)).toBeGreaterThanOrEqual(dueAt);
  await eventually(async () => (await env.edgeq.jsm.streams.info(DEAD_STREAM)).state.messages === 1, 5000, "the poison message's dead letter");
});
