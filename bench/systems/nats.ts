/** What the two NATS systems share: connecting as edgeq's commands do, and cleanup. */
import { readFile } from "node:fs/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { isNotFound } from "../../src/errors.ts";
import { natsConnectOptions } from "../../src/nats-options.ts";
import { readSettings } from "../../src/settings.ts";
import type { BenchEnv } from "./system.ts";

/** With the options edgeq's commands use, credentials and TLS from the environment included, to the measurement's server. */
export async function connectTo(env: BenchEnv): Promise<NatsConnection> {
  const { nats } = readSettings((name) => process.env[name], { NATS_URL: env.natsUrl });
  return connect(await natsConnectOptions(nats, (path) => readFile(path, "utf8")));
}

/** For cleanup: what a failed prepare never made is not there to remove. */
export function unlessMissing(err: unknown): void {
  if (!isNotFound(err)) throw err;
}
