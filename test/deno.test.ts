/**
 * The same system under Deno (the npm `deno` package): the API and workers started with
 * `deno task serve` / `deno task worker` (and src/adapter/deno/main.ts directly, for options),
 * driven over real HTTP.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { DENO } from "../deploy/commands.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { freePort, waitForPort } from "./helpers/nats-server.ts";
import { type EdgeqProcess, eventually, ROOT, runDenoTask, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats({ ackWaitMs: 2000 });
const procs: EdgeqProcess[] = [];
let base: string;

function deno(...args: string[]): EdgeqProcess {
  const proc = runEdgeq("deno", args, { NATS_URL: env.server.url });
  procs.push(proc);
  return proc;
}

beforeAll(async () => {
  const port = await freePort();
  const api = runDenoTask("serve", { NATS_URL: env.server.url, PORT: String(port) });
  procs.push(api);
  await api.waitFor(/API listening .* \(deno\)/);
  await waitForPort(port);
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
});

async function call(path: string, body?: unknown) {
  const res = await fetch(base + path, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function waitDone(ids: string[]) {
  return eventually(async () => {
    const all = await Promise.all(ids.map(async (id) => (await call(`/tasks/${id}`)).body));
    return all.every((t) => t.status === "completed") ? all : null;
  }, 30_000, "tasks to complete");
}

test("the Deno side type-checks", async () => {
  const { stderr } = await promisify(execFile)(DENO, ["check", "src/adapter/deno/main.ts", "src/adapter/deno/websocket.ts"], {
    cwd: ROOT,
  });
  expect(stderr).not.toMatch(/error/i);
});

test("API and worker on Deno: a task submitted over HTTP is processed and readable over HTTP", async () => {
  const worker = runDenoTask("worker", { NATS_URL: env.server.url });
  procs.push(worker);
  const workerId = await worker.workerId();
  const { status, body } = await call("/tasks", { type: "process", data: "Hello from Deno", priority: "high" });
  expect(status).toBe(201);
  const [task] = await waitDone([body.task_id]);
  expect(task).toMatchObject({ status: "completed", worker_id: workerId, result: { processed: "HELLO FROM DENO" } });

  const workers = (await call("/workers")).body.workers;
  expect(workers).toContainEqual(expect.objectContaining({ id: workerId, runtime: "deno" }));
  expect((await call("/health")).body).toMatchObject({ status: "healthy", workers: 1 });
  expect((await call("/tasks", { type: 1 })).status).toBe(400);

  worker.kill("SIGTERM");
  expect(await worker.exited).toBe(0);
  await eventually(async () => (await call("/health")).body.workers === 0, 5000, "the worker to deregister");
});

test("a Deno worker killed with SIGKILL mid-task loses nothing", async () => {
  const victim = deno("worker", "workers/demo.ts", "--concurrency", "4");
  const victimId = await victim.workerId();
  const watch = await RecordWatch.start(env.edgeq);
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await call("/tasks", { type: "sleep", data: { ms: 200 } })).body.task_id);
  // Runs this short store no `running`: the victim is mid-way through the 20 once it has completed some.
  await eventually(async () => {
    const tasks = await Promise.all(ids.map(async (id) => (await call(`/tasks/${id}`)).body));
    return tasks.some((t) => t.status === "completed" && t.worker_id === victimId);
  }, 10_000, "the victim to be mid-task");
  victim.kill("SIGKILL");
  const survivor = deno("worker", "workers/demo.ts", "--concurrency", "4");
  const survivorId = await survivor.workerId();
  const done = await waitDone(ids);
  expect(done).toHaveLength(20);
  expect(done.some((t) => t.worker_id === survivorId && t.attempts === 2)).toBe(true);
  await checkInvariants(env.edgeq, ids, { logs: [watch], expectStatus: "completed" });
  await watch.stop();
});
