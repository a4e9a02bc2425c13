/**
 * The three-node cluster `npm run cluster` and docker-compose.yml boot, from the deploy/ files:
 * edgeq creates its stream and buckets with 3 replicas on it, tasks go through, and they keep
 * going through while one node is down.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { LocalCluster } from "../deploy/cluster.ts";
import type { Edgeq } from "../src/client/client.ts";
import { openOnCluster, STREAMS, untilAccepted } from "./helpers/cluster.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";

let cluster: LocalCluster;
let nc: NatsConnection;
let edgeq: Edgeq;

beforeAll(async () => {
  cluster = await LocalCluster.start();
  ({ nc, edgeq } = await openOnCluster(cluster));
});
afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

test("the three nodes form one cluster named in deploy/nats/cluster.conf", async () => {
  const routez = await Promise.all(cluster.monitorPorts.map(async (p) => (await fetch(`http://127.0.0.1:${p}/routez`)).json()));
  expect(routez.map((r) => r.num_routes)).toEqual([2, 2, 2]);
  const varz = await (await fetch(`http://127.0.0.1:${cluster.monitorPorts[0]}/varz`)).json();
  expect(varz).toMatchObject({ server_name: "nats-1", cluster: { name: "edgeq" }, websocket: { port: cluster.wsPort } });
});

test("the work stream and every bucket have 3 replicas, on three different servers", async () => {
  for (const stream of STREAMS) {
    const info = await edgeq.jsm.streams.info(stream);
    expect(info.config.num_replicas, stream).toBe(3);
    const servers = [info.cluster!.leader, ...info.cluster!.replicas!.map((r) => r.name)];
    expect(servers.sort(), stream).toEqual(["nats-1", "nats-2", "nats-3"]);
  }
});

/** Submits under one fresh id, resubmitted under it until accepted (untilAccepted); failover itself is the reliability tests' subject. */
async function submit(data: number) {
  const id = crypto.randomUUID();
  const { result, refusals } = await untilAccepted(() => edgeq.queue().submit("double", data, { id }), 15_000);
  if (refusals) console.log(`submission ${id} refused ${refusals} time(s) before it was accepted`);
  return result;
}

test("a task goes through, and another one while a node is down", async () => {
  const watch = await RecordWatch.start(edgeq);
  const worker = await edgeq.worker({ double: (n: number) => n * 2 }, { heartbeatIntervalMs: 200 });
  try {
    const first = await submit(21);
    expect(await edgeq.tasks.waitFor(first.id, 10_000)).toMatchObject({ status: "completed", result: 42 });

    // Kill a node the client is not connected to, so that only the replication is put to the test.
    const down = cluster.urls.findIndex((u) => !u.endsWith(`:${nc.info!.port}`));
    await cluster.kill(down);
    const second = await submit(50);
    expect(await edgeq.tasks.waitFor(second.id, 20_000)).toMatchObject({ status: "completed", result: 100 });

    await cluster.restart(down);
    const third = await submit(1);
    expect(await edgeq.tasks.waitFor(third.id, 10_000)).toMatchObject({ status: "completed", result: 2 });
    await checkInvariants(edgeq, [first.id, second.id, third.id], { logs: [watch], expectStatus: "completed" });
  } finally {
    await worker.stop();
    await watch.stop();
  }
});
