/**
 * A flow whose parent's worker is killed with SIGKILL while the parent runs: the parent is
 * redelivered after the ack wait and run again by another worker process, and its children are
 * released once, each running once with the parent's result.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { type EdgeqProcess, eventually, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

// The killed worker's task comes back after the ack wait: keep it short.
const env = useNats({ ackWaitMs: 2000 });
const dir = mkdtempSync(join(tmpdir(), "edgeq-flows-kill-"));
const runsFile = join(dir, "runs");
const processes: EdgeqProcess[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const lines = () => readFileSync(runsFile, "utf8").split("\n").filter(Boolean).map((l) => l.split(" "));

async function startWorker(): Promise<EdgeqProcess> {
  const proc = runEdgeq("node", ["worker", "test/fixtures/flow-worker.ts"], { NATS_URL: env.server.url, EDGEQ_RUNS_FILE: runsFile });
  processes.push(proc);
  await proc.waitFor(/worker \S+ \(node\)/);
  return proc;
}

test("a worker SIGKILLed while a parent runs: the parent is redelivered, its children released once, the flow completes", async () => {
  writeFileSync(runsFile, "");
  const first = await startWorker();
  await env.edgeq.flow({
    type: "child", id: "kill-last",
    children: [{ type: "parent", id: "kill-p", maxAttempts: 5, children: [] }, { type: "child", id: "kill-mid", dependsOn: ["kill-p"] }],
  });
  await eventually(async () => lines().some(([type, id]) => type === "parent" && id === "kill-p"), 20_000, "the parent to start");
  first.kill("SIGKILL");
  await first.exited;
  await startWorker();

  const last = await env.edgeq.tasks.waitFor("kill-last", 60_000);
  expect(last).toMatchObject({ status: "completed", attempts: 1 });
  const parentResult = { from: "kill-p", attempt: 2 };
  expect(await env.edgeq.tasks.get("kill-p")).toMatchObject({ status: "completed", attempts: 2, result: parentResult });
  expect(await env.edgeq.tasks.get("kill-mid")).toMatchObject({ status: "completed", result: { parents: { "kill-p": parentResult } } });
  expect(last!.result).toEqual({ parents: { "kill-p": parentResult, "kill-mid": { parents: { "kill-p": parentResult } } } });
  // Let any repeated release show itself: the children ran once each.
  await new Promise((r) => setTimeout(r, 3000));
  const runs = lines();
  expect(runs.filter(([type]) => type === "parent").map(([, , attempt]) => attempt)).toEqual(["1", "2"]);
  expect(runs.filter(([type]) => type === "child").map(([, id]) => id).sort()).toEqual(["kill-last", "kill-mid"]);
}, 120_000);
