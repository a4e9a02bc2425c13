/**
 * edgeq on the local three-node cluster of deploy/cluster.ts, with 3 replicas, once every stream
 * has elected a leader: a replicated stream answers publishes only then, which on a busy machine
 * can take a moment after it is created.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { LocalCluster } from "../../deploy/cluster.ts";
import { Edgeq } from "../../src/client.ts";
import { DEAD_STREAM, STATS_BUCKET, TASKS_BUCKET, WORK_STREAM, WORKERS_BUCKET } from "../../src/names.ts";
import { eventually } from "./processes.ts";

export const STREAMS = [WORK_STREAM, DEAD_STREAM, `KV_${TASKS_BUCKET}`, `KV_${WORKERS_BUCKET}`, `KV_${STATS_BUCKET}`];

export async function openOnCluster(cluster: LocalCluster, servers = cluster.urls): Promise<{ nc: NatsConnection; edgeq: Edgeq }> {
  const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const edgeq = await Edgeq.open(nc, { replicas: 3 });
  await eventually(async () => {
    const infos = await Promise.all(STREAMS.map((name) => edgeq.jsm.streams.info(name)));
    return infos.every((i) => i.cluster?.leader && i.cluster.replicas?.length === 2 && i.cluster.replicas.every((r) => r.current));
  }, 30_000, "every stream to have a leader and two current replicas");
  return { nc, edgeq };
}
