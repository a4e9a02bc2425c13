/**
 * `npm run cluster`: the docker-compose setup without Docker. Starts the three-node NATS cluster
 * from deploy/nats/ on loopback ports, the API on Deno, and a worker on each runtime (Node, Deno,
 * Bun, and Deno over WebSocket), all with 3 replicas; prints the URLs; Ctrl-C stops everything.
 *
 *   PORT                  API port (default 5000)
 *   EDGEQ_CLUSTER_STORE   where the nodes keep their JetStream data (default .edgeq/cluster)
 * Every other edgeq variable (docs/deploy.md) is passed on to the API and the workers.
 *
 * Run by `node --import tsx`, not the tsx command: on Ctrl-C, tsx SIGKILLs a child that does not
 * acknowledge the signal within 30 ms, which a loaded machine misses, leaving the cluster running.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { LocalCluster } from "./cluster.ts";
import { edgeqCommand, type RuntimeName, RUNTIMES } from "./commands.ts";
import { readSettings } from "../src/client/settings.ts";

const { port } = readSettings((name) => process.env[name]);
const cluster = await LocalCluster.start({ storeDir: resolve(process.env.EDGEQ_CLUSTER_STORE || ".edgeq/cluster") });
const children: ChildProcess[] = [];
const labels = new Map<ChildProcess, string>();
let stopping = false;

/** Runs `edgeq <args>` on a runtime, its output prefixed with `label`; `onLine` sees each line. */
function run(label: string, runtime: RuntimeName, args: string[], natsUrl: string, onLine: (line: string) => void = () => {}): ChildProcess {
  const { command, args: argv } = edgeqCommand(runtime, args);
  const env = { ...process.env, NATS_URL: natsUrl, EDGEQ_REPLICAS: process.env.EDGEQ_REPLICAS || "3", PORT: String(port) };
  // Its own process group: Ctrl-C reaches this script only, which then stops the workers before the servers.
  const child = spawn(command, argv, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = "";
    stream.on("data", (chunk) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        console.log(`[${label}] ${line}`);
        onLine(line);
      }
    });
  }
  child.once("exit", (code, signal) => {
    if (!stopping) console.log(`[${label}] exited (${signal ?? code})`);
  });
  children.push(child);
  labels.set(child, label);
  return child;
}

/** Sends SIGTERM to `procs` and waits for them to exit. */
async function terminate(procs: ChildProcess[]): Promise<void> {
  const running = procs.filter((c) => c.exitCode === null && c.signalCode === null);
  // A process slower than this to stop is named, so that a stop that hangs says where.
  const slow = setTimeout(() => {
    const left = running.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => labels.get(c));
    console.log(`edgeq cluster: still stopping after 15 s: ${left.join(", ")}`);
  }, 15_000);
  await Promise.all(
    running.map((c) =>
      new Promise((done) => {
        c.once("exit", done);
        c.kill("SIGTERM");
      })
    ),
  );
  clearTimeout(slow);
}

/** The workers (they finish or give back their tasks), then the API, then the servers. */
async function stop(code: number): Promise<never> {
  stopping = true;
  const [api, ...workers] = children;
  await terminate(workers);
  if (api) await terminate([api]);
  await cluster.stop();
  console.log("edgeq cluster: stopped");
  process.exit(code);
}
process.once("SIGINT", () => void stop(0));
process.once("SIGTERM", () => void stop(0));

try {
  const tcp = cluster.urls.join(",");
  // The API starts first: it creates the stream and buckets with 3 replicas. Ready when it says it
  // listens: a port that answers could be another program's.
  let listening!: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  const api = run("api", "deno", ["serve"], tcp, (line) => /API listening on/.test(line) && listening());
  const apiExited = new Promise<never>((_, reject) => api.once("exit", () => reject(new Error("the API exited"))));
  const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the API did not start listening within 60 s")), 60_000).unref());
  await Promise.race([ready, apiExited, late]);
  for (const runtime of RUNTIMES) {
    run(`worker ${runtime}`, runtime, ["worker", "workers/demo.ts"], runtime === "deno-websocket" ? cluster.wsUrl : tcp);
  }
  console.log(`
edgeq cluster: ready
  API         http://localhost:${port}   (try: curl http://localhost:${port}/workers)
  NATS        ${cluster.urls.join(" ")}
  WebSocket   ${cluster.wsUrl}
  leaf nodes  ${cluster.leafUrls.join(" ")}
  monitoring  ${cluster.monitorPorts.map((p) => `http://127.0.0.1:${p}`).join(" ")}
  workers     ${RUNTIMES.join(", ")}
Ctrl-C stops everything.`);
} catch (err) {
  console.error(`edgeq cluster: ${(err as Error).message}`);
  await stop(1);
}
