/**
 * A worker process for the limits tests: `node --import tsx test/helpers/limits-worker.ts`, with
 * NATS_URL, EDGEQ_LIMITS (the config's `types` and `keys`, JSON) and EDGEQ_CONCURRENCY. Its handler
 * `run` publishes `{id, key, phase: "start" | "end", at}` on the core subject `limits_test.runs`
 * (an observer outside every worker), sleeping `data.ms` between the two.
 */
import { connect } from "@nats-io/transport-node";
import { Edgeq } from "../../src/client/client.ts";

const nc = await connect({ servers: process.env.NATS_URL, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
const edgeq = await Edgeq.open(nc, { workerTtlMs: 3000, ...JSON.parse(process.env.EDGEQ_LIMITS ?? "{}") });
const report = (id: string, key: unknown, phase: string) => nc.publish("limits_test.runs", JSON.stringify({ id, key, phase, at: Date.now() }));

const worker = await edgeq.worker({
  async run(data: { ms?: number; key?: string }, ctx) {
    report(ctx.id, data?.key, "start");
    await new Promise((r) => setTimeout(r, data?.ms ?? 0));
    report(ctx.id, data?.key, "end");
    return null;
  },
  free(data: { key?: string }, ctx) {
    report(ctx.id, data?.key, "start");
    report(ctx.id, data?.key, "end");
    return null;
  },
}, { queues: (process.env.EDGEQ_QUEUES ?? "default").split(","), concurrency: Number(process.env.EDGEQ_CONCURRENCY ?? 10), heartbeatIntervalMs: 1000, onError: (err) => console.error(String(err)) });
console.log(`ready ${worker.id}`);
process.on("SIGTERM", () => void worker.stop().then(() => nc.close()).then(() => process.exit(0)));
