/**
 * Scenario 3, HTTP submit: autocannon, in its own process, sends `POST /tasks` over keep-alive
 * connections, then `POST /tasks/batch` with BATCH tasks a request. edgeq is `edgeq serve` itself;
 * BullMQ and raw JetStream get the smallest Hono app on the same Node server that submits the
 * body's data, a batch with the system's own batch submission (bench/procs/http-server.ts). No
 * workers run: this measures accepting tasks.
 */
import { edgeqCommand } from "../../deploy/commands.ts";
import { type Child, forkProc, ROOT, spawnCommand } from "../children.ts";
import { fmt, type Row } from "../results.ts";
import type { Session } from "../session.ts";
import { payload, type SystemName } from "../systems/system.ts";
import type { BenchEnv } from "../systems/system.ts";
import { freePort, waitForPort } from "../../test/helpers/nats-server.ts";

/** A short first run warms the server's JIT and connections; its figures are dropped. */
const WARM_UP_SECONDS = 1;
/** Tasks in each `POST /tasks/batch` request. */
const BATCH = 100;

interface Autocannon {
  duration: number;
  "2xx": number;
  non2xx: number;
  errors: number;
  latency: { p99: number };
}

/** One run of autocannon sending `body` as JSON to `path`. */
async function autocannon(port: number, path: string, body: unknown, seconds: number, connections: number): Promise<Autocannon> {
  const cmd = spawnCommand(process.execPath, [
    `${ROOT}node_modules/autocannon/autocannon.js`,
    ...["-c", String(connections), "-d", String(seconds), "-m", "POST", "-H", "content-type=application/json", "-b", JSON.stringify(body), "-j"],
    `http://127.0.0.1:${port}${path}`,
  ]);
  const code = await cmd.exited;
  if (code !== 0) throw new Error(`autocannon exited with ${code}: ${cmd.stderr()}`);
  return JSON.parse(cmd.stdout()) as Autocannon;
}

/** Starts the system's HTTP front on `port` and resolves once it listens; returns how to stop it. */
async function startServer(system: SystemName, env: BenchEnv, port: number): Promise<() => void> {
  if (system === "edgeq") {
    const { command, args } = edgeqCommand("node", ["serve"]);
    const serve = spawnCommand(command, args, { NATS_URL: env.natsUrl, PORT: String(port) });
    await waitForPort(port, 30_000);
    return () => serve.proc.kill("SIGKILL");
  }
  const server: Child = forkProc("http-server", { system, env, port });
  await server.next("ready");
  return () => server.kill();
}

export async function http(session: Session): Promise<Row[]> {
  const { httpSeconds, httpConnections, payloadBytes } = session.sizes;
  const scenario = `3 HTTP POST /tasks (${httpConnections} conns)`;
  const rps: Row = { scenario, metric: "accepted requests per second", unit: "req/s", values: {}, targets: [{ op: "≥", value: 1.5, vs: "bullmq" }], chart: true };
  const p99: Row = { scenario, metric: "latency p99", unit: "ms", values: {} };
  const refused: Row = { scenario, metric: "non-2xx answers and errors", unit: "count", values: {} };
  const batchScenario = `3 HTTP POST /tasks/batch (${httpConnections} conns)`;
  const batchTasks: Row = { scenario: batchScenario, metric: `accepted tasks per second (${BATCH} tasks per request)`, unit: "tasks/s", values: {}, targets: [{ op: "≥", value: 50_000 }], chart: true };
  const batchRefused: Row = { scenario: batchScenario, metric: "non-2xx answers and errors", unit: "count", values: {} };

  // `queue` is the measurement's own (the other systems' fronts ignore it).
  const task = (queue: string) => ({ type: "noop", queue, data: payload(payloadBytes) });
  /** autocannon's warm-up, then its measured run, on a fresh front and queue. */
  const load = (system: SystemName, path: string, body: (queue: string) => unknown) =>
    session.measure(system, async (env) => {
      const port = await freePort();
      const stop = await startServer(system, env, port);
      try {
        await autocannon(port, path, body(env.queue), WARM_UP_SECONDS, httpConnections);
        return await autocannon(port, path, body(env.queue), httpSeconds, httpConnections);
      } finally {
        stop();
      }
    });

  for (const system of session.systems) {
    const one = await load(system, "/tasks", task);
    rps.values[system] = one["2xx"] / one.duration;
    p99.values[system] = one.latency.p99;
    refused.values[system] = one.non2xx + one.errors;
    const batch = await load(system, "/tasks/batch", (queue) => Array.from({ length: BATCH }, () => task(queue)));
    batchTasks.values[system] = (batch["2xx"] * BATCH) / batch.duration;
    batchRefused.values[system] = batch.non2xx + batch.errors;
    console.log(`  ${system}: ${fmt(rps.values[system])} req/s, p99 ${p99.values[system]} ms; batches ${fmt(batchTasks.values[system])} tasks/s`);
  }
  return [rps, p99, refused, batchTasks, batchRefused];
}
