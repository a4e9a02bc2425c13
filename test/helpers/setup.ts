/**
 * One nats-server and one Edgeq handle per test file.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll } from "vitest";
import { Edgeq } from "../../src/client/client.ts";
import type { EdgeqConfigInput } from "../../src/nats/config.ts";
import { headers } from "@nats-io/nats-core";
import { requeueMessageId } from "../../src/tasks/dead-letters.ts";
import { HEADER_ID, HEADER_TASK_ID } from "../../src/wire/names.ts";
import type { TaskRecord } from "../../src/wire/record.ts";
import { NatsServer } from "./nats-server.ts";

export interface Env {
  server: NatsServer;
  nc: NatsConnection;
  edgeq: Edgeq;
}

/** Registers hooks that start a server before the file's tests and stop it after; read fields in tests. */
export function useNats(config?: EdgeqConfigInput): Env {
  const env = {} as Env;
  beforeAll(async () => {
    env.server = await NatsServer.start();
    env.nc = await connect({ servers: env.server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    env.edgeq = await Edgeq.open(env.nc, config);
  });
  afterAll(async () => {
    await env.nc?.close();
    await env.server?.stop();
  });
  return env;
}

/** Publishes a work message as a requeue of the dead letter at `letterSeq` publishes it. */
export async function publishRequeued(edgeq: Edgeq, subject: string, id: string, letterSeq: number, data: unknown): Promise<void> {
  const h = headers();
  h.set(HEADER_ID, requeueMessageId(id, letterSeq));
  h.set(HEADER_TASK_ID, id);
  await edgeq.js.publish(subject, JSON.stringify(data), { headers: h });
}

/** Writes a record as it stands, over whatever is there: tests set up states a worker would reach. */
export function putRecord(edgeq: Edgeq, record: TaskRecord): Promise<number> {
  return edgeq.buckets.tasks.put(record.id, JSON.stringify(record));
}
