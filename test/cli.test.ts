/**
 * The `edgeq` command as a user runs it: `npm start` (edgeq dev) on a machine with no NATS running,
 * and the errors it gives for bad settings.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { afterEach, expect, test } from "vitest";
import { Edgeq } from "../src/client/client.ts";
import { freePort, NatsServer, waitForPort } from "./helpers/nats-server.ts";
import { type EdgeqProcess, eventually, ROOT, type Runtime, runEdgeq } from "./helpers/processes.ts";

const procs: EdgeqProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function edgeq(args: string[], env: Record<string, string> = {}, runtime: Runtime = "node"): EdgeqProcess {
  const cwd = mkdtempSync(join(tmpdir(), "edgeq-cli-"));
  dirs.push(cwd);
  const proc = runEdgeq(runtime, args, { NATS_URL: "", ...env }, cwd);
  procs.push(proc);
  return proc;
}

test.each<Runtime>(["node", "deno"])("edgeq dev on %s starts its own nats-server, serves the API with the demo worker, and stops it all", async (runtime) => {
  const [port, natsPort] = [await freePort(), await freePort()];
  const dev = edgeq(["dev", "--nats-port", String(natsPort)], { PORT: String(port) }, runtime);
  await dev.waitFor(new RegExp(`started nats-server at nats://127.0.0.1:${natsPort}`));
  await dev.waitFor(new RegExp(`worker \\S+ \\(${runtime}\\)`));
  await waitForPort(port);

  const base = `http://127.0.0.1:${port}`;
  const res = await fetch(`${base}/tasks`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "process", data: "Hello Distributed Systems!" }),
  });
  expect(res.status).toBe(201);
  const { task_id } = await res.json();
  const task = await eventually(async () => {
    const t = await (await fetch(`${base}/tasks/${task_id}`)).json();
    return t.status === "completed" ? t : null;
  }, 10_000, "the task to complete");
  expect(task.result.processed).toBe("HELLO DISTRIBUTED SYSTEMS!");
  expect((await (await fetch(`${base}/health`)).json()).workers).toBe(1);

  dev.kill("SIGTERM");
  expect(await dev.exited).toBe(0);
  await expect(waitForPort(natsPort, 500)).rejects.toThrow(/nothing listens/);
});

test("edgeq dev without nats-server on the PATH says how to get one", async () => {
  const dev = edgeq(["dev", "--nats-port", String(await freePort())], { PATH: "/nonexistent" });
  expect(await dev.exited).toBe(1);
  expect(dev.output).toMatch(/apt-get install nats-server/);
  expect(dev.output).toMatch(/NATS_URL/);
});

test.each([
  [["serve"], { PORT: "eighty" }, /--port \/ PORT: must be a number/],
  [["worker"], {}, /worker needs <module>/],
  [["worker", "no-such-module.ts"], {}, /cannot load worker module no-such-module.ts/],
  [["worker", `${ROOT}src/wire/names.ts`], {}, /exports no "handlers" object/],
  [["worker", "x.ts", "--concurrency", "0"], {}, /--concurrency \/ EDGEQ_CONCURRENCY: must be at least 1/],
  [["worker", "x.ts", "--queues", "a.b"], {}, /--queues \/ EDGEQ_QUEUES: must be 1-64/],
  [["launch"], {}, /unknown command "launch"; one of serve, worker, dev, submit, tasks, task, cancel, queues, pause, resume, workers, schedules, dead, top/],
  [["dev", "--nats-port", "0"], {}, /--nats-port: must be at least 1/],
  [["dead", "list", "--limit", "many", "--max-attempts", "0"], {}, /--limit: must be a number; --max-attempts: must be at least 1/],
  [["serve"], { NATS_URL: "nats://127.0.0.1:1" }, /cannot reach NATS at nats:\/\/127.0.0.1:1 .*set NATS_URL/],
])("edgeq %j with %j fails with a clear message", async (args, env, message) => {
  const proc = edgeq(args, env);
  expect(await proc.exited).toBe(1);
  expect(proc.output).toMatch(message);
  expect(proc.output).not.toMatch(/\n\s+at /);
});

test("a worker module's own options apply unless the command line overrides them", async () => {
  const nats = await NatsServer.start();
  try {
    const module = `${ROOT}test/fixtures/configured-worker.ts`;
    const own = edgeq(["worker", module], { NATS_URL: nats.url });
    await own.waitFor(/with concurrency 3;/);
    const overridden = edgeq(["worker", module, "--concurrency", "7"], { NATS_URL: nats.url });
    await overridden.waitFor(/with concurrency 7;/);
  } finally {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
    await nats.stop();
  }
});

test("with NATS gone, serve and worker still shut down promptly on SIGTERM", async () => {
  const nats = await NatsServer.start();
  try {
    const worker = edgeq(["worker", `${ROOT}workers/demo.ts`], { NATS_URL: nats.url });
    const api = edgeq(["serve"], { NATS_URL: nats.url, PORT: String(await freePort()) });
    await Promise.all([worker.waitFor(/worker \S+ \(node\)/), api.waitFor(/API listening/)]);
    await nats.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    worker.kill("SIGTERM");
    api.kill("SIGTERM");
    expect(await Promise.all([worker.exited, api.exited])).toEqual([0, 0]);
    expect(Date.now() - started).toBeLessThan(2000);
  } finally {
    await nats.stop();
  }
});

test("edgeq dead lists, shows, requeues and purges dead letters", async () => {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  try {
    const lib = await Edgeq.open(nc, { backoff: "fixed:10" });
    const worker = await lib.worker({ boom: () => { throw new Error("boom"); } });
    const tasks = await lib.queue().submitMany([{ type: "boom", maxAttempts: 1 }, { type: "boom", maxAttempts: 1 }]);
    await Promise.all(tasks.map((t) => lib.tasks.waitFor(t.id, 5000)));
    await worker.stop();
    const run = async (...args: string[]) => {
      const proc = edgeq(["dead", ...args], { NATS_URL: nats.url });
      expect(await proc.exited, proc.output).toBe(0);
      return proc.output;
    };
    expect(JSON.parse(await run("list", "--limit", "5", "--json"))).toHaveLength(2);
    expect(await run("list")).toMatch(new RegExp(`^${tasks[1].id}  default  boom `, "m"));
    expect(JSON.parse(await run("show", tasks[0].id, "--json"))).toMatchObject({ reason: "Error: boom" });
    expect(await run("purge", tasks[0].id)).toMatch(`purged ${tasks[0].id}`);
    expect(await run("requeue", "--all", "--queue", "default", "--max-attempts", "2")).toMatch(/requeued 1 dead letters/);
    expect(await lib.deadLetters.count()).toBe(0);
    expect(await lib.tasks.get(tasks[1].id)).toMatchObject({ status: "pending", max_attempts: 2 });
    const bad = edgeq(["dead", "purge"], { NATS_URL: nats.url });
    expect(await bad.exited).toBe(1);
    expect(bad.output).toMatch(/dead purge needs a task id or --all/);
  } finally {
    await nc.close();
    await nats.stop();
  }
});

test("edgeq help prints the usage", async () => {
  const proc = edgeq(["help"]);
  expect(await proc.exited).toBe(0);
  expect(proc.output).toMatch(/usage: edgeq <command>/);
});

test("edgeq dev joining a nats-server that already runs says so, with its address", async () => {
  const nats = await NatsServer.start();
  try {
    const dev = edgeq(["dev", "--nats-port", String(nats.port), "--port", String(await freePort())]);
    await dev.waitFor(new RegExp(`joined the nats-server already running at nats://127.0.0.1:${nats.port}`));
    await dev.waitFor(/worker \S+ \(node\)/);
    dev.kill("SIGTERM");
    expect(await dev.exited).toBe(0);
    // It leaves the server it joined running.
    await waitForPort(nats.port, 1000);
  } finally {
    await nats.stop();
  }
});
