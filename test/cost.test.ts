/**
 * What one task costs in JetStream, as docs/architecture.md states it: one work message, one
 * record write (the outcome), and on the worker's connection about two messages each way (the
 * write and the ack, the delivery and the write's answer; no record read; pulls are shared by a batch).
 * Task events add core messages, never stored and never answered: the `submitted`, `started` and
 * `completed` events of a turn go as one message per subject (src/events/events.ts), so a batch
 * adds a few messages, not one per task.
 */
import { connect } from "@nats-io/transport-node";
import { afterAll, expect, test } from "vitest";
import { Edgeq } from "../src/client/client.ts";
import { TASKS_BUCKET, WORK_STREAM } from "../src/wire/names.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const N = 1000;
let closeWorkerConnection: () => Promise<void>;
afterAll(() => closeWorkerConnection?.());

test(`${N} tasks: 1 work message and 1 record write each; about 2 messages each way per task on the worker`, async () => {
  const wnc = await connect({ servers: env.server.url });
  closeWorkerConnection = () => wnc.close();
  const worker = await (await Edgeq.open(wnc)).worker({ noop: () => null }, { concurrency: 50, heartbeatIntervalMs: 60_000 });
  const lastSeq = async (stream: string) => (await env.edgeq.jsm.streams.info(stream)).state.last_seq;
  const before = { work: await lastSeq(WORK_STREAM), records: await lastSeq(`KV_${TASKS_BUCKET}`), ...wnc.stats() };

  const submitter = env.nc.stats();
  const submitted = await env.edgeq.queue().submitMany(Array.from({ length: N }, (_, i) => ({ type: "noop", data: i })));
  // The submitter: the message and its answer, and its `submitted` events in a few messages, nothing else.
  const afterSubmit = env.nc.stats();
  expect((afterSubmit.outMsgs - submitter.outMsgs) / N).toBeLessThan(1.1);
  expect((afterSubmit.inMsgs - submitter.inMsgs) / N).toBeLessThan(1.05);
  for (const { id } of submitted) expect((await env.edgeq.tasks.waitFor(id, 20_000))?.status).toBe("completed");
  await worker.stop();

  const stats = wnc.stats();
  expect((await lastSeq(WORK_STREAM)) - before.work).toBe(N);
  // The heartbeat is off for the test; stop() writes one final beat to the other buckets only.
  expect((await lastSeq(`KV_${TASKS_BUCKET}`)) - before.records).toBe(N);
  const [sent, received] = [(stats.outMsgs - before.outMsgs) / N, (stats.inMsgs - before.inMsgs) / N];
  console.log(`worker connection per task: ${sent.toFixed(2)} sent, ${received.toFixed(2)} received`);
  // A record read, or a `running` write, per task would add one each way; so would an event message per task.
  expect(sent).toBeLessThan(2.5);
  expect(received).toBeLessThan(2.5);
});
