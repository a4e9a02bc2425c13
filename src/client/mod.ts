/**
 * The library's client: the `Edgeq` handle, submitting to queues, queue states, health, and the
 * settings edgeq's commands read from the environment.
 */
export { Edgeq } from "./client.ts";
export { Queue } from "./queue.ts";
export type { Submitted, TaskSpec } from "./queue.ts";
export type { QueueState, QueueStates, QueueSummary } from "./queue-states.ts";
export type { Health } from "./health.ts";
export { DEFAULT_NATS_URL, ENV_NAMES, readSettings, wholeNumber } from "./settings.ts";
export type { Env, EnvName, NatsSettings, Settings } from "./settings.ts";
