/**
 * `npm run cluster` as a user runs it: three NATS nodes, the API and a worker per runtime come up,
 * tasks go through on replicated streams, and Ctrl-C stops everything.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { RUNTIMES } from "../deploy/commands.ts";
import { freePort, waitForPort } from "../deploy/ports.ts";
import { UnavailableError } from "../src/wire/errors.ts";
import { WORK_STREAM } from "../src/wire/names.ts";
import { untilAccepted } from "./helpers/cluster.ts";
import { EdgeqProcess, eventually, ROOT } from "./helpers/processes.ts";

const store = mkdtempSync(join(tmpdir(), "edgeq-run-cluster-"));
let cluster: EdgeqProcess | undefined;
afterAll(async () => {
  // SIGTERM first, so that the script stops what it started (its own process groups) even if the test failed.
  if (cluster && !/edgeq cluster: stopped/.test(cluster.output)) {
    process.kill(-cluster.proc.pid!, "SIGTERM");
    await cluster.waitFor(/edgeq cluster: stopped/, 30_000).catch(() => {});
  }
  await cluster?.stop();
  rmSync(store, { recursive: true, force: true });
});

test("npm run cluster serves tasks on a three-node cluster with a worker per runtime, and Ctrl-C stops it all", async () => {
  const port = await freePort();
  // Detached, so that a SIGINT to its process group is what a terminal's Ctrl-C does.
  cluster = new EdgeqProcess(
    spawn("npm", ["run", "cluster"], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), EDGEQ_CLUSTER_STORE: store, NATS_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    }),
  );
  await cluster.waitFor(/edgeq cluster: ready/, 60_000);
  const natsUrls = (await cluster.waitFor(/\n  NATS +(.+)\n/))[1].split(" ");
  expect(natsUrls).toHaveLength(3);
  const base = `http://127.0.0.1:${port}`;

  const workers = await eventually(async () => {
    const { workers } = await (await fetch(`${base}/workers`)).json();
    return workers.length === RUNTIMES.length ? workers : null;
  }, 30_000, "a worker per runtime");
  expect(workers.map((w: { runtime: string }) => w.runtime).sort()).toEqual([...RUNTIMES].sort());

  const ids = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
    const task = { id: `cluster-task-${i}`, type: "process", data: `task ${i}` };
    await untilAccepted(async () => {
      const res = await fetch(`${base}/tasks`, { method: "POST", body: JSON.stringify(task) });
      if (res.status === 503) throw new UnavailableError(`task ${i}: ${res.status}`);
      expect(res.status).toBe(201);
    }, 15_000);
    return task.id;
  }));
  await eventually(async () => {
    const tasks = await Promise.all(ids.map(async (id) => (await fetch(`${base}/tasks/${id}`)).json()));
    return tasks.every((t) => t.status === "completed");
  }, 30_000, "the tasks to complete");

  const nc = await connect({ servers: natsUrls });
  try {
    expect((await (await jetstreamManager(nc)).streams.info(WORK_STREAM)).config.num_replicas).toBe(3);
  } finally {
    await nc.close();
  }

  process.kill(-cluster.proc.pid!, "SIGINT");
  // npm itself ends by the signal; the script it runs reports when everything is stopped.
  await cluster.waitFor(/edgeq cluster: stopped/, 60_000);
  expect(cluster.output).not.toMatch(/exited \(/);
  await expect(waitForPort(port, 300)).rejects.toThrow(/nothing listens/);
  for (const url of natsUrls) await expect(waitForPort(Number(url.split(":").pop()), 300)).rejects.toThrow(/nothing listens/);
}, 120_000); // starting and stopping eleven processes on a loaded machine

