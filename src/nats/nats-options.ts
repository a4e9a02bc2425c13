/**
 * Turns the NATS settings into the client's connect options. Files (credentials, NKey seed, TLS)
 * are read with the function the runtime passes in, so the same code serves every runtime.
 */
import { type ConnectionOptions, credsAuthenticator, nkeyAuthenticator } from "@nats-io/nats-core";
import { ValidationError } from "../wire/mod.ts";
import type { NatsSettings } from "../client/mod.ts";

export type ReadTextFile = (path: string) => Promise<string>;

const encoder = new TextEncoder();

export async function natsConnectOptions(nats: NatsSettings, readTextFile: ReadTextFile): Promise<ConnectionOptions> {
  const read = async (variable: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return await readTextFile(path);
    } catch (err) {
      throw new ValidationError(`${variable}: cannot read ${path} (${(err as Error).message})`);
    }
  };
  const seed = nats.nkeySeed ?? (await read("NATS_NKEY_SEED_FILE", nats.nkeySeedFile))?.trim();
  const creds = await read("NATS_CREDS", nats.credsFile);
  const tls = nats.tls && {
    ca: await read("NATS_TLS_CA", nats.tls.caFile),
    cert: await read("NATS_TLS_CERT", nats.tls.certFile),
    key: await read("NATS_TLS_KEY", nats.tls.keyFile),
  };
  return {
    servers: nats.servers,
    name: "edgeq",
    // nats.js builds an Error per request for async stack traces; on the hot path that was a quarter of the CPU.
    noAsyncTraces: true,
    // A worker or API outlives any outage: it keeps trying and refuses work meanwhile.
    maxReconnectAttempts: -1,
    user: nats.user,
    pass: nats.password,
    token: nats.token,
    inboxPrefix: nats.inboxPrefix,
    authenticator: seed ? nkeyAuthenticator(encoder.encode(seed)) : creds ? credsAuthenticator(encoder.encode(creds)) : undefined,
    tls,
  };
}
