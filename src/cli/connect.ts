/** Connecting the command to NATS and edgeq, with the settings' servers, credentials and TLS. */
import type { NatsConnection } from "@nats-io/nats-core";
import { Edgeq, type Settings } from "../client/mod.ts";
import { UnavailableError } from "../wire/mod.ts";
import { natsConnectOptions } from "../nats/mod.ts";
import type { Runtime } from "../adapter/mod.ts";

/** Connects and opens edgeq; a NATS that does not answer becomes one UnavailableError naming it. */
export async function open(runtime: Runtime, settings: Settings): Promise<Edgeq> {
  const options = await natsConnectOptions(settings.nats, runtime.readTextFile);
  const where = settings.nats.servers.join(",");
  let nc: NatsConnection;
  try {
    nc = await runtime.connect(options);
  } catch (err) {
    throw new UnavailableError(`cannot reach NATS at ${where} (${(err as Error).message}); start nats-server -js, or set NATS_URL`);
  }
  try {
    return await Edgeq.open(nc, settings.config);
  } catch (err) {
    await nc.close();
    throw err;
  }
}

/** Drains the connection, or just closes it when NATS is down and draining could only time out. */
export function disconnect(edgeq: Edgeq): Promise<void> {
  return edgeq.connection.up ? edgeq.nc.drain() : edgeq.nc.close();
}

/** Runs `fn` on an open edgeq and disconnects afterwards, whatever happens. */
export async function withEdgeq<T>(runtime: Runtime, settings: Settings, fn: (edgeq: Edgeq) => Promise<T>): Promise<T> {
  const edgeq = await open(runtime, settings);
  try {
    return await fn(edgeq);
  } finally {
    await disconnect(edgeq);
  }
}
