/**
 * The soak test: `npm run soak -- --minutes N [--rate R] [--victims V]`.
 *
 * Starts its own nats-server, the API (`edgeq serve`) and worker processes: one that lives
 * throughout, and V victims that are killed with SIGKILL at random and restarted. For N minutes it
 * submits R tasks a second over HTTP, a mix that succeeds, fails now and then, takes its time, or
 * always fails. Then it waits for every accepted task to finish and prints submitted, completed,
 * failed, dead, lost (must be 0), duplicated executions, the invariant checker's verdict, and the
 * resident memory of the API, the steady worker and nats-server: each one's peak after the warm-up
 * (the first minute, or the first half of a shorter run) against its peak during it. Exits 1 if a
 * task was lost, an invariant broke, or the API's or the steady worker's memory grew past the bound
 * (`--rss-bound`, per cent, default 10). The last line is the summary as one line of JSON.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { Edgeq } from "../src/client/client.ts";
import { FINAL_STATUSES } from "../src/wire/record.ts";
import { freePort, NatsServer, waitForPort } from "../test/helpers/nats-server.ts";
import { checkInvariants, RecordWatch } from "../test/helpers/invariants.ts";
import { type EdgeqProcess, runEdgeq } from "../test/helpers/processes.ts";
import { RssWatch } from "../test/helpers/rss-watch.ts";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}
const minutes = flag("minutes", 3);
const rate = flag("rate", 200);
const victims = flag("victims", 2);
const rssBoundPct = flag("rss-bound", 10);

const dir = mkdtempSync(join(tmpdir(), "edgeq-soak-"));
const log = join(dir, "executions.log");
const nats = await NatsServer.start();
const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
// Created here first, so the workers get a short ack wait: a killed worker's tasks return in 5 s.
const edgeq = await Edgeq.open(nc, { ackWaitMs: 5000 });
const watch = await RecordWatch.start(edgeq);

const port = await freePort();
const env = { NATS_URL: nats.url, PORT: String(port), SOAK_LOG: log };
const worker = () => runEdgeq("node", ["worker", "scripts/soak-worker.ts", "--concurrency", "20", "--grace-ms", "2000"], env);
const api = runEdgeq("node", ["serve"], env);
const steady = worker();
const pool: EdgeqProcess[] = Array.from({ length: victims }, worker);
await waitForPort(port);
await Promise.all([steady, ...pool].map((w) => w.workerId()));

// Victims live seconds, so only the long-lived processes have a warm-up to compare with.
const WARMUP_MS = Math.min(60_000, (minutes * 60_000) / 2);
const memory = new RssWatch({ api: () => api.proc.pid, steady_worker: () => steady.proc.pid, nats_server: () => nats.pid }, WARMUP_MS);

const KINDS = [
  { share: 0.7, type: "ok", body: () => ({ data: { at: Date.now() } }) },
  { share: 0.1, type: "flaky", body: () => ({ max_attempts: 5, backoff: "fixed:100" }) },
  { share: 0.1, type: "slow", body: () => ({ data: { ms: 100 + Math.floor(Math.random() * 1400) } }) },
  { share: 0.1, type: "doomed", body: () => ({ max_attempts: 2, backoff: "fixed:100" }) },
];
const accepted = new Map<string, string>();
const refused = new Map<number, number>();
let kills = 0;

async function submitOne(): Promise<void> {
  let pick = Math.random();
  const kind = KINDS.find((k) => (pick -= k.share) < 0) ?? KINDS[0];
  const res = await fetch(`http://127.0.0.1:${port}/tasks`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: kind.type, ...kind.body() }),
  }).catch(() => null);
  if (res?.status === 201) accepted.set((await res.json()).task_id, kind.type);
  else refused.set(res?.status ?? 0, (refused.get(res?.status ?? 0) ?? 0) + 1);
}

const TICK_MS = 50;
const inFlight = new Set<Promise<void>>();
const ticker = setInterval(() => {
  for (let i = 0; i < (rate * TICK_MS) / 1000; i++) {
    const submission = submitOne().finally(() => inFlight.delete(submission));
    inFlight.add(submission);
  }
}, TICK_MS);
// A random victim, at a random moment 2-4 s after the last kill, restarted half a second later.
let chaos: ReturnType<typeof setTimeout>;
const killOne = () => {
  const i = Math.floor(Math.random() * pool.length);
  pool[i].kill("SIGKILL");
  kills++;
  setTimeout(() => (pool[i] = worker()), 500);
  chaos = setTimeout(killOne, 2000 + Math.random() * 2000);
};
chaos = setTimeout(killOne, 2000 + Math.random() * 2000);

console.log(`soak: ${minutes} min at ${rate} tasks/s, ${victims} victim workers killed every 2-4 s, 1 steady worker`);
await new Promise((r) => setTimeout(r, minutes * 60_000));
clearInterval(ticker);
clearTimeout(chaos);
// Submissions still under way are accepted or refused before the count starts, so that every accepted task is counted.
await Promise.all(inFlight);

// Every accepted task must finish: redeliveries after a kill take up to the 5 s ack wait.
const counts: Record<string, number> = {};
const byType: Record<string, number> = {};
const unfinished = new Set(accepted.keys());
// Given up only after two minutes in which no task finished.
let deadline = Date.now() + 120_000;
while (unfinished.size > 0 && Date.now() < deadline) {
  const before = unfinished.size;
  // Read 500 at a time: a 30-minute run has ~900,000 to look at.
  const ids = [...unfinished];
  for (let i = 0; i < ids.length; i += 500) {
    const records = await Promise.all(ids.slice(i, i + 500).map((id) => edgeq.tasks.get(id).then((record) => [id, record] as const)));
    for (const [id, record] of records) {
      if (!record || !FINAL_STATUSES.includes(record.status)) continue;
      unfinished.delete(id);
      counts[record.status] = (counts[record.status] ?? 0) + 1;
      const key = `${accepted.get(id)} ${record.status}`;
      byType[key] = (byType[key] ?? 0) + 1;
    }
  }
  if (unfinished.size < before) deadline = Date.now() + 120_000;
  if (unfinished.size > 0) await new Promise((r) => setTimeout(r, 1000));
}

const executions = new Map<string, number>();
for (const line of readFileSync(log, "utf8").split("\n").filter(Boolean)) {
  const id = line.split(" ")[0];
  executions.set(id, (executions.get(id) ?? 0) + 1);
}
// Tasks that never fail run once; any further start of one is a duplicate execution.
const duplicated = [...accepted].filter(([id, type]) => (type === "ok" || type === "slow") && (executions.get(id) ?? 0) > 1).length;

const rss = memory.stop();
const bounded = ["api", "steady_worker"] as const;
const summary = {
  minutes,
  rate,
  worker_kills: kills,
  submitted: accepted.size,
  refused: Object.fromEntries(refused),
  completed: counts.completed ?? 0,
  failed: counts.failed ?? 0,
  dead: counts.dead ?? 0,
  lost: unfinished.size,
  duplicated,
  by_type: byType,
  warmup_s: WARMUP_MS / 1000,
  rss,
  rss_bound_pct: rssBoundPct,
  rss_within_bound: bounded.every((name) => rss[name].growth_pct <= rssBoundPct),
  invariants_held: true,
};
// Every accepted task: one final outcome never overwritten, attempts within bounds, letters with bodies, no leftover work.
try {
  console.log(`invariants hold: ${JSON.stringify(await checkInvariants(edgeq, accepted.keys(), { logs: [watch], settleMs: 10_000 }))}`);
} catch (err) {
  summary.invariants_held = false;
  console.error((err as Error).message);
}
await watch.stop();
console.log(JSON.stringify(summary, null, 2));
console.log(`soak summary: ${JSON.stringify(summary)}`);

await Promise.all([api, steady, ...pool].map((p) => p.stop()));
await nc.close();
await nats.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(summary.lost > 0 || !summary.invariants_held || !summary.rss_within_bound ? 1 : 0);
