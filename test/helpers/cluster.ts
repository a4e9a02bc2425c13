/**
 * edgeq on the local three-node cluster of deploy/cluster.ts, with 3 replicas, once every stream
 * has elected a leader: a replicated stream answers publishes only then, which on a busy machine
 * can take a moment after it is created.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { LocalCluster } from "../../deploy/cluster.ts";
import { Edgeq } from "../../src/client/client.ts";
import type { EdgeqConfigInput } from "../../src/nats/config.ts";
import { UnavailableError } from "../../src/wire/errors.ts";
import { DEAD_STREAM, STATS_BUCKET, TASKS_BUCKET, WORK_STREAM, WORKERS_BUCKET } from "../../src/wire/names.ts";
import { eventually } from "./processes.ts";

export const STREAMS = [WORK_STREAM, DEAD_STREAM, `KV_${TASKS_BUCKET}`, `KV_${WORKERS_BUCKET}`, `KV_${STATS_BUCKET}`];

export async function openOnCluster(
  cluster: Pick<LocalCluster, "urls">,
  servers = cluster.urls,
  config: EdgeqConfigInput = {},
): Promise<{ nc: NatsConnection; edgeq: Edgeq }> {
  const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  // Creating replicated streams on a cluster that has just formed can time out on a busy machine; creating is idempotent.
  const edgeq = await eventually(
    () => Edgeq.open(nc, { ...config, replicas: 3 }).catch((err) => (err?.name === "TimeoutError" ? null : Promise.reject(err))),
    60_000,
    "edgeq's streams to be created",
  );
  await eventually(async () => {
    const infos = await Promise.all(STREAMS.map((name) => edgeq.jsm.streams.info(name)));
    return infos.every((i) => i.cluster?.leader && i.cluster.replicas?.length === 2 && i.cluster.replicas.every((r) => r.current));
  }, 30_000, "every stream to have a leader and two current replicas");
  return { nc, edgeq };
}

/**
 * Submits as a client should: UnavailableError (a 503) means nothing, or part of a batch, was
 * stored, so the same submission goes again under the same ids. A replicated stream can refuse for
 * a moment while its replicas elect a leader (after creation, after a node went down, or when a
 * busy machine delays their heartbeats). Resolves with the result and how many times it was refused.
 */
export async function untilAccepted<T>(submit: () => Promise<T>, timeoutMs: number): Promise<{ result: T; refusals: number }> {
  let refusals = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return { result: await submit(), refusals };
    } catch (err) {
      if (!(err instanceof UnavailableError) || Date.now() > deadline) throw err;
      refusals++;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
