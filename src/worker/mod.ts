/** The worker's one door. */
export { Worker } from "./worker.ts";
export { validateHandlers, workerOptionsSchema } from "./options.ts";
export { listWorkers, totalStats } from "./heartbeat.ts";
export type { Handler, Handlers, TaskContext, WorkerOptions } from "./options.ts";
export type { WorkerInfo, WorkerStats } from "./heartbeat.ts";
