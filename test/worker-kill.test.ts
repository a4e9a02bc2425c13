/**
 * Worker processes killed with SIGKILL again and again, at random every 0.5-1 s, and restarted,
 * while they work through 5,000 tasks: none is lost. Runs repeated on another worker (the cost of
 * at-least-once processing) are counted from the runs each handler records, and reported.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { WORK_STREAM } from "../src/wire/names.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { type EdgeqProcess, eventually, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

// A killed worker's tasks come back after the ack wait: keep it short.
const env = useNats({ ackWaitMs: 2000 });
const dir = mkdtempSync(join(tmpdir(), "edgeq-kill-"));
const runsFile = join(dir, "runs");
const workers: EdgeqProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const TASKS = 5000;
const WORKERS = 3;

function startWorker(): EdgeqProcess {
  const worker = runEdgeq("node", ["worker", "test/fixtures/recording-worker.ts", "--concurrency", "25"], {
    NATS_URL: env.server.url,
    EDGEQ_RUNS_FILE: runsFile,
  });
  workers.push(worker);
  return worker;
}

test(`${TASKS} tasks while workers are killed with SIGKILL every 0.5-1 s: none lost, repeated runs counted`, async () => {
  writeFileSync(runsFile, "");
  const started = Date.now();
  const watch = await RecordWatch.start(env.edgeq);
  // Killing is the fault under test, not failing handlers: enough attempts that kills never use them up.
  const submitted = await env.edgeq.queue().submitMany(
    Array.from({ length: TASKS }, () => ({ type: "record", data: { ms: 20 }, maxAttempts: 1000 })),
  );
  const live = Array.from({ length: WORKERS }, startWorker);

  // A seeded choice of victims and pauses, so that a failing run can be replayed.
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let kills = 0;
  let done = false;
  const killer = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 500 + random() * 500));
      if (done) break;
      const i = Math.floor(random() * live.length);
      live[i].kill("SIGKILL");
      kills++;
      live[i] = startWorker();
    }
  })();

  await eventually(async () => (await env.edgeq.jsm.streams.info(WORK_STREAM)).state.messages === 0, 240_000, "the work stream to empty");
  done = true;
  await killer;

  const records = await Promise.all(submitted.map((s) => env.edgeq.tasks.get(s.id)));
  const lost = submitted.filter((s, i) => records[i]?.status !== "completed").map((s) => s.id);
  const runs = readFileSync(runsFile, "utf8").trim().split("\n").map((line) => line.split(" ")[0]);
  const ran = new Set(runs);
  const attempts = records.reduce((n, r) => n + (r?.attempts ?? 0), 0);
  const duplicates = runs.length - ran.size;
  const pids = new Set(readFileSync(runsFile, "utf8").trim().split("\n").map((line) => line.split(" ")[1]));
  console.log(
    `worker-kill: ${TASKS} tasks, ${kills} workers killed (${pids.size} processes ran tasks), ${lost.length} lost, ` +
      `${runs.length} runs: ${duplicates} duplicate runs; ${attempts} attempts recorded, ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  expect(lost).toEqual([]);
  expect(submitted.every((s) => ran.has(s.id))).toBe(true);
  expect(kills).toBeGreaterThan(3);
  // A record's attempts count every run that started, and maybe some that died between storing
  // `running` and the handler's first line: never fewer than the runs recorded.
  const perTask = new Map<string, number>();
  for (const id of runs) perTask.set(id, (perTask.get(id) ?? 0) + 1);
  const undercounted = submitted.filter((s, i) => (records[i]?.attempts ?? 0) < perTask.get(s.id)!);
  expect(undercounted).toEqual([]);
  const invariants = await checkInvariants(env.edgeq, submitted.map((s) => s.id), { logs: [watch], expectStatus: "completed" });
  await watch.stop();
  console.log(`worker-kill: invariants hold: ${JSON.stringify(invariants)}`);
}, 300_000);
