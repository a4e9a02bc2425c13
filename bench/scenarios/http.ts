/**
 * Scenario 3, HTTP submit: autocannon, in its own process, sends `POST /tasks` over keep-alive
 * connections. edgeq is `edgeq serve` itself; BullMQ and raw JetStream get the smallest Hono app
 * on the same Node server that submits the body's data (bench/procs/http-server.ts). No workers
 * run: this measures accepting tasks.
 */
import { edgeqCommand } from "../../deploy/commands.ts";
import { type Child, forkProc, ROOT, spawnCommand } from "../children.ts";
import type { Row } from "../results.ts";
import type { Session } from "../session.ts";
import { payload, type SystemName } from "../systems/system.ts";
import type { BenchEnv } from "../systems/system.ts";
import { freePort, waitForPort } from "../../test/helpers/nats-server.ts";

/** A short first run warms the server's JIT and connections; its figures are dropped. */
const WARM_UP_SECONDS = 1;

interface Autocannon {
  duration: number;
  "2xx": number;
  non2xx: number;
  errors: number;
  latency: { p99: number };
}

/** `queue` is the measurement's own (the other systems' fronts ignore it). */
async function autocannon(port: number, seconds: number, connections: number, payloadBytes: number, queue: string): Promise<Autocannon> {
  const body = JSON.stringify({ type: "noop", queue, data: payload(payloadBytes) });
  const cmd = spawnCommand(process.execPath, [
    `${ROOT}node_modules/autocannon/autocannon.js`,
    ...["-c", String(connections), "-d", String(seconds), "-m", "POST", "-H", "content-type=application/json", "-b", body, "-j"],
    `http://127.0.0.1:${port}/tasks`,
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
  const rps: Row = { scenario, metric: "accepted requests per second", unit: "req/s", values: {}, chart: true };
  const p99: Row = { scenario, metric: "latency p99", unit: "ms", values: {} };
  const refused: Row = { scenario, metric: "non-2xx answers and errors", unit: "count", values: {} };

  for (const system of session.systems) {
    await session.measure(system, async (env) => {
      const port = await freePort();
      const stop = await startServer(system, env, port);
      try {
        await autocannon(port, WARM_UP_SECONDS, httpConnections, payloadBytes, env.queue);
        const result = await autocannon(port, httpSeconds, httpConnections, payloadBytes, env.queue);
        rps.values[system] = result["2xx"] / result.duration;
        p99.values[system] = result.latency.p99;
        refused.values[system] = result.non2xx + result.errors;
      } finally {
        stop();
      }
    });
    console.log(`  ${system}: ${Math.round(rps.values[system] ?? 0)} req/s, p99 ${p99.values[system]} ms`);
  }
  return [rps, p99, refused];
}
