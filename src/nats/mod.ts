/**
 * JetStream plumbing: the connection, the streams, consumers and buckets made sure of, matched
 * requests, pull consumers, stream scans, and the cluster-wide config they are created with.
 */
export { configSchema, describeIssues, parseInput, resolveConfig } from "./config.ts";
export type { EdgeqConfig, EdgeqConfigInput } from "./config.ts";
export { ConnectionState } from "./connection.ts";
export { Requests } from "./requests.ts";
export type { PubAck, StreamMessage } from "./requests.ts";
export { Puller } from "./puller.ts";
export { Delivery } from "./delivery.ts";
export { SCAN_BATCH, StreamScanner } from "./scan.ts";
export { readEntries, readEntry } from "./small-bucket.ts";
export type { BucketReader } from "./small-bucket.ts";
export { inLanes } from "./lanes.ts";
export { ensureQueueConsumers, ensureTopology } from "./topology.ts";
export type { Buckets } from "./topology.ts";
export { StorageRefusals } from "./storage-refusals.ts";
export { natsConnectOptions } from "./nats-options.ts";
export type { ReadTextFile } from "./nats-options.ts";
