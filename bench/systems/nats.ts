/** What the two NATS systems share: connecting as edgeq's commands do, and cleanup. */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { isNotFound } from "../../src/wire/errors.ts";
import type { BenchEnv } from "./system.ts";

/**
 * Without per-request async stack traces, as edgeq's commands connect; with no credentials, so a
 * NATS_URL that needs them is not supported. Not through natsConnectOptions: its settings bring zod
 * into raw JetStream's processes, 11 MB of their measured memory.
 */
export function connectTo(env: BenchEnv): Promise<NatsConnection> {
  return connect({ servers: env.natsUrl, noAsyncTraces: true });
}

/** For cleanup: what a failed prepare never made is not there to remove. */
export function unlessMissing(err: unknown): void {
  if (!isNotFound(err)) throw err;
}
