/**
 * An edge site: a leaf nats-server (deploy/nats/leaf.conf, no JetStream of its own) links to the hub
 * (deploy/nats/server.conf); a worker connected to the leaf processes tasks from the hub's stream.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type Hub, startHub, startLeaf } from "../deploy/edge-site.ts";
import type { NatsNode } from "../deploy/nats-node.ts";
import { Edgeq } from "../src/client/client.ts";
import { UnavailableError } from "../src/wire/errors.ts";
import { WORK_STREAM } from "../src/wire/names.ts";
import { type EdgeqProcess, eventually, runEdgeq } from "./helpers/processes.ts";

let hub: Hub;
let leaf: NatsNode;
let nc: NatsConnection;
let edgeq: Edgeq;
const procs: EdgeqProcess[] = [];

beforeAll(async () => {
  hub = await startHub();
  leaf = await startLeaf("edge-site-1", [hub.leafUrl]);
  nc = await connect({ servers: hub.node.url });
  edgeq = await Edgeq.open(nc);
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await nc?.close();
  await leaf?.kill("SIGTERM");
  await hub?.stop();
});

test("a worker on the leaf node processes the tasks submitted to the hub", async () => {
  const worker = runEdgeq("node", ["worker", "workers/demo.ts"], { NATS_URL: leaf.url, NATS_JS_DOMAIN: "hub" });
  procs.push(worker);
  const id = await worker.workerId();
  const tasks = await edgeq.queue().submitMany([
    { type: "process", data: "from the hub" },
    { type: "fail", data: "on purpose", maxAttempts: 1 },
  ]);
  expect(await edgeq.tasks.waitFor(tasks[0].id, 10_000)).toMatchObject({
    status: "completed",
    worker_id: id,
    result: { processed: "FROM THE HUB" },
  });
  expect(await edgeq.tasks.waitFor(tasks[1].id, 10_000)).toMatchObject({ status: "dead", worker_id: id, attempts: 1 });
  expect((await edgeq.deadLetters.get(tasks[1].id)).reason).toMatch(/^Error: /);
  await eventually(async () => (await edgeq.workers()).some((w) => w.id === id), 5000, "the leaf worker's heartbeat on the hub");
  // The acks are not awaited by the worker: the stream empties once they arrive.
  await eventually(async () => (await edgeq.jsm.streams.info(WORK_STREAM)).state.messages === 0, 5000, "the work stream to be empty");
});

test("without NATS_JS_DOMAIN a worker on the leaf node says what to set", async () => {
  const worker = runEdgeq("node", ["worker", "workers/demo.ts"], { NATS_URL: leaf.url });
  procs.push(worker);
  expect(await worker.exited).toBe(1);
  expect(worker.output).toMatch(/no JetStream answers at .*set NATS_JS_DOMAIN/);
});

test("without jsDomain the library, connected to the leaf node, says what to set", async () => {
  const onLeaf = await connect({ servers: leaf.url });
  try {
    const error = await Edgeq.open(onLeaf).catch((e) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toMatch(/no JetStream answers at .*set NATS_JS_DOMAIN \(the jsDomain option\)/);
  } finally {
    await onLeaf.close();
  }
});
