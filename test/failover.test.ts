/**
 * Fault: the work stream's leader is killed (SIGKILL) in the middle of a 5,000-task run on the
 * three-node cluster, stream and buckets with 3 replicas. Nothing acknowledged is lost, work goes
 * on once a new leader is elected, and duplicate executions are counted.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { LocalCluster } from "../deploy/cluster.ts";
import type { Edgeq } from "../src/client/client.ts";
import { WORK_STREAM } from "../src/wire/names.ts";
import type { TaskRecord } from "../src/wire/record.ts";
import type { Worker } from "../src/worker/mod.ts";
import { openOnCluster, untilAccepted } from "./helpers/cluster.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { eventually } from "./helpers/processes.ts";

const TASKS = 5000;
const BATCH = 250;
let cluster: LocalCluster;
const connections: NatsConnection[] = [];
let edgeq: Edgeq;

beforeAll(async () => {
  cluster = await LocalCluster.start();
  const opened = await openOnCluster(cluster);
  connections.push(opened.nc);
  edgeq = opened.edgeq;
});
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await cluster?.stop();
});

test(`killing the work stream's leader during ${TASKS} tasks loses none of them`, async () => {
  const watch = await RecordWatch.start(edgeq);
  const runs = new Map<string, number>();
  const workers: Worker[] = [];
  // Two workers, each on its own connection to a different node, so that the kill cuts one of them off.
  for (const servers of [cluster.urls, [...cluster.urls].reverse()]) {
    const { nc, edgeq: own } = await openOnCluster(cluster, servers);
    connections.push(nc);
    workers.push(await own.worker({ work: (_: unknown, ctx: { id: string }) => void runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1) }, {
      concurrency: 50,
      heartbeatIntervalMs: 500,
      onError: () => {}, // failed writes during the election are retried by redelivery
    }));
  }

  const ids = Array.from({ length: TASKS }, (_, i) => `failover-${i}`);
  let refusals = 0;
  let killed = "";
  for (let i = 0; i < TASKS; i += BATCH) {
    if (i === TASKS / 5) {
      const { cluster: placement } = await edgeq.jsm.streams.info(WORK_STREAM);
      killed = placement!.leader!;
      await cluster.kill(cluster.nodes.findIndex((n) => n.name === killed));
    }
    const batch = ids.slice(i, i + BATCH).map((id) => ({ type: "work", id, maxAttempts: 100 }));
    refusals += (await untilAccepted(() => edgeq.queue().submitMany(batch), 120_000)).refusals;
  }
  const leader = await eventually(async () => (await edgeq.jsm.streams.info(WORK_STREAM).catch(() => null))?.cluster?.leader, 30_000, "a new leader");
  expect(leader).not.toBe(killed);

  const completed = new Map<string, TaskRecord>();
  await eventually(async () => {
    for (const id of ids.filter((id) => !completed.has(id))) {
      const record = await edgeq.tasks.get(id).catch(() => null);
      if (record?.status === "completed") completed.set(id, record);
    }
    return completed.size === TASKS;
  }, 90_000, "every acknowledged task to complete");
  const duplicates = [...runs.values()].reduce((n, count) => n + count - 1, 0);
  console.log(`failover: ${TASKS} tasks, leader ${killed} killed, new leader ${leader}; ${refusals} batch refusals resubmitted; lost 0; ${duplicates} duplicate executions`);
  // Every task ran here, and every handler start is counted in its record, duplicates included (a
  // count that was stored but not confirmed is counted too, so the record may count more).
  const uncounted = ids.filter((id) => !((runs.get(id) ?? 0) >= 1 && completed.get(id)!.attempts >= runs.get(id)!));
  expect(uncounted).toEqual([]);
  // With the workers still there: acks sent to the killed leader are lost, and those messages come
  // back after the ack wait (30 s) to be acknowledged without running, since their outcome is stored.
  // Like a SIGKILL, a leader kill on 2.9 can also leave acknowledged messages behind (nats-io/nats-server#5227):
  // allowed only where the consumer has passed them and awaits no ack: never delivered again.
  const invariants = await checkInvariants(edgeq, ids, { logs: [watch], expectStatus: "completed", ackedLeftoversAllowed: true, settleMs: 75_000 });
  console.log(`failover: invariants hold: ${JSON.stringify(invariants)}`);
  await Promise.all(workers.map((w) => w.stop(0)));
  await watch.stop();
}, 240_000);
