/**
 * The nats-server restarts under a connected worker: the server forgets the worker's open pulls, so
 * the worker must reissue them on reconnect rather than wait for them to time out.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Worker } from "../src/worker/mod.ts";
import { handlers } from "../workers/demo.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
let worker: Worker;
beforeAll(async () => {
  // Parked pulls would otherwise only be renewed after 30 s (+5 s safety margin).
  // A heartbeat in flight when the server is killed fails; the worker reports it and beats on.
  const onError = () => {};
  worker = await env.edgeq.worker(handlers, { idlePullMs: 30_000, concurrency: 2, heartbeatIntervalMs: 200, onError });
});
afterAll(() => worker?.stop());

async function restartServer() {
  await env.server.kill("SIGKILL");
  await eventually(async () => !env.edgeq.connection.up, 5000, "the disconnect to be noticed");
  await env.server.restart();
  await eventually(async () => env.edgeq.connection.up, 10_000, "the reconnect");
}

test("a task running across a restart completes, an idle worker picks up new tasks at once, and heartbeats resume", async () => {
  const watch = await RecordWatch.start(env.edgeq);
  const queue = env.edgeq.queue();
  const running = await queue.submit("sleep", { ms: 1500 });
  await eventually(async () => (await env.edgeq.tasks.get(running.id))?.status === "running", 5000, "the task to run");
  await restartServer();
  expect(await env.edgeq.tasks.waitFor(running.id, 10_000)).toMatchObject({ status: "completed", attempts: 1 });

  await restartServer();
  const started = Date.now();
  const fresh = await queue.submit("process", "after the restart");
  expect(await env.edgeq.tasks.waitFor(fresh.id, 5000)).toMatchObject({ status: "completed" });
  expect(Date.now() - started).toBeLessThan(2000);
  await eventually(async () => (await env.edgeq.workers()).some((w) => w.id === worker.id), 5000, "the heartbeat to be back");
  await checkInvariants(env.edgeq, [running.id, fresh.id], { logs: [watch], expectStatus: "completed", ackedLeftoversAllowed: true });
  await watch.stop();
});

test("a worker whose connection is closed under it stops pulling instead of spinning", async () => {
  const { connect } = await import("@nats-io/transport-node");
  const { Edgeq } = await import("../src/client/client.ts");
  const nc = await connect({ servers: env.server.url });
  const orphan = await (await Edgeq.open(nc)).worker(handlers, { idlePullMs: 1000, onError: () => {} });
  await nc.close();
  // Parked pulls end by their safety timer 1 s + 5 s later; then a spinning worker would starve the loop.
  const cpu = process.cpuUsage();
  const lateness: number[] = [];
  for (let i = 0; i < 14; i++) {
    const planned = Date.now() + 500;
    await new Promise((r) => setTimeout(r, 500));
    lateness.push(Date.now() - planned);
  }
  const used = process.cpuUsage(cpu);
  expect(Math.max(...lateness)).toBeLessThan(200);
  expect((used.user + used.system) / 1000).toBeLessThan(1000); // ms of CPU in 7 s
  await orphan.stop(0);
});
