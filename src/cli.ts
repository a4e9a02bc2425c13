/**
 * The `edgeq` command, written once for every runtime: each adapter's main.ts calls `runCli` with
 * its Runtime.
 *
 *   edgeq serve                 the HTTP API
 *   edgeq worker <module>       a worker running the handlers the module exports
 *   edgeq dev                   API and demo worker in one process, with a local nats-server if needed
 *   edgeq dead …                the dead-letter stream (cli-dead-letters.ts)
 *   edgeq cancel|pause|resume|queues   control of tasks and queues (cli-control.ts)
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { z } from "zod";
import { CONTROL_NAMES, CONTROL_USAGE, type ControlCommand, runControlCommand } from "./cli-control.ts";
import { DEAD_USAGE, type DeadCommand, runDeadCommand } from "./cli-dead-letters.ts";
import { Edgeq } from "./client.ts";
import { describeIssues } from "./config.ts";
import { EdgeqError, UnavailableError, ValidationError } from "./errors.ts";
import { limitSchema } from "./records.ts";
import { ensureLocalNats, type LocalNats } from "./local-nats.ts";
import { queueSchema, typeSchema } from "./message.ts";
import { natsConnectOptions } from "./nats-options.ts";
import { maxAttemptsSchema } from "./retry.ts";
import type { Runtime } from "./runtime.ts";
import { type EnvName, readSettings, type Settings, wholeNumber } from "./settings.ts";
import type { Handlers, Worker, WorkerOptions } from "./worker/mod.ts";

const USAGE = `usage: edgeq <command> [options]

  serve                      run the HTTP API
  worker <module>            run a worker with the handlers <module> exports
  dev                        run the API and the demo worker (starts nats-server if none is running)
${DEAD_USAGE}
${CONTROL_USAGE}

options:
  --port N                   HTTP port (env PORT, default 5000, as in the tutorial)
  --concurrency N            tasks a worker runs at once (env EDGEQ_CONCURRENCY, default 10)
  --queues a,b               queues a worker serves (env EDGEQ_QUEUES, default "default")
  --grace-ms N               on SIGINT/SIGTERM, how long running tasks may finish before they are
                             given back (env EDGEQ_SHUTDOWN_GRACE_MS, default 10000)
  --nats-port N              dev: port of the local nats-server (default 4222)

environment (all of them: docs/deploy.md):
  NATS_URL                   NATS server(s), comma-separated (default nats://127.0.0.1:4222)
  NATS_USER / NATS_PASSWORD, NATS_TOKEN, NATS_NKEY_SEED(_FILE), NATS_CREDS, NATS_TLS_CA / _CERT / _KEY
  NATS_JS_DOMAIN             JetStream domain of the hub, when connected to a leaf node
  EDGEQ_REPLICAS             replicas of what edgeq creates (1; 3 on a cluster)
  EDGEQ_ACK_WAIT_MS, EDGEQ_RETENTION_MS, EDGEQ_HEARTBEAT_MS, EDGEQ_MAX_ATTEMPTS
  EDGEQ_API_TOKENS           bearer tokens the API accepts, "<token>:<scope>,<scope>;..." with scopes
                             read (GET), submit (POST /tasks) and admin (changing dead letters);
                             unset: the API is open to anyone
  EDGEQ_RATE_LIMIT           submissions per token (or per client address when open): "<n>/s",
                             "<n>/min" or "off" (default off)
`;

/** Command-line flags, each a higher-priority source of one environment variable. */
const FLAGS: Record<string, EnvName> = {
  port: "PORT",
  concurrency: "EDGEQ_CONCURRENCY",
  queues: "EDGEQ_QUEUES",
  "grace-ms": "EDGEQ_SHUTDOWN_GRACE_MS",
};
const LABELS = Object.fromEntries(Object.entries(FLAGS).map(([flag, name]) => [name, `--${flag} / ${name}`]));

const COMMAND_NAMES = ["serve", "worker", "dev", "dead", ...CONTROL_NAMES, "help"] as const;

/** The flags that are not settings: dev's `--nats-port`, and `edgeq dead`'s, as the API's `?limit=` and `max_attempts`. */
const flagsSchema = z.object({
  "nats-port": wholeNumber(z.number().min(1).max(65535)).transform((p) => p ?? 4222),
  queue: queueSchema.optional(),
  type: typeSchema.optional(),
  status: z.enum(["pending", "running"], { error: "must be pending or running" }).optional(),
  limit: limitSchema,
  "max-attempts": wholeNumber(maxAttemptsSchema),
});

interface Invocation extends Settings {
  command: (typeof COMMAND_NAMES)[number];
  module?: string;
  /** `edgeq dead`: the action, the task id and the flags. */
  dead: DeadCommand;
  control: ControlCommand;
  /** dev: port of the local nats-server, when NATS_URL is not set. */
  natsPort: number;
  /** Whether NATS_URL was set (dev starts a server otherwise). */
  natsUrlGiven: boolean;
}

export async function runCli(argv: string[], runtime: Runtime): Promise<void> {
  try {
    const invocation = readInvocation(argv, runtime);
    if (invocation.command === "help") return console.log(USAGE);
    await COMMANDS[invocation.command](invocation, runtime);
  } catch (err) {
    console.error(err instanceof EdgeqError ? `edgeq: ${err.message}` : err);
    runtime.exit(1);
  }
}

function readInvocation(argv: string[], runtime: Runtime): Invocation {
  const [given = "help", ...rest] = argv;
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(rest[i]);
    if (!match) positional.push(rest[i]);
    else if (match[1] === "all") flags.all = "true"; // takes no value
    else flags[match[1]] = match[2] ?? rest[++i] ?? "";
  }
  const command = given === "--help" || given === "-h" ? "help" : given;
  if (!(COMMAND_NAMES as readonly string[]).includes(command)) {
    throw new EdgeqError(`the command: must be one of ${COMMAND_NAMES.join(", ")}\n\n${USAGE}`);
  }
  const overrides = Object.fromEntries(Object.entries(FLAGS).map(([flag, name]) => [name, flags[flag]]));
  let settings: Settings;
  try {
    settings = readSettings((name) => runtime.env(name), overrides, LABELS);
  } catch (err) {
    throw err instanceof ValidationError ? new EdgeqError(`${err.message}\n\n${USAGE}`) : err;
  }
  if (command === "worker" && !positional[0]) throw new EdgeqError(`worker needs a module\n\n${USAGE}`);
  const parsed = flagsSchema.safeParse(flags);
  if (!parsed.success) throw new EdgeqError(`${describeIssues(parsed.error, "--")}\n\n${USAGE}`);
  const extra = parsed.data;
  return {
    ...settings,
    command: command as Invocation["command"],
    module: positional[0],
    dead: {
      action: positional[0],
      id: positional[1],
      all: flags.all === "true",
      queue: extra.queue,
      limit: extra.limit,
      maxAttempts: extra["max-attempts"],
    },
    control: {
      name: command as ControlCommand["name"],
      target: positional[0],
      all: flags.all === "true",
      queue: extra.queue,
      type: extra.type,
      status: extra.status,
      limit: extra.limit,
    },
    natsPort: extra["nats-port"],
    // As readSettings reads it: blank is not set.
    natsUrlGiven: Boolean(runtime.env("NATS_URL")?.trim()),
  };
}

type Command = (s: Invocation, r: Runtime) => Promise<void>;

const COMMANDS: Record<Exclude<Invocation["command"], "help">, Command> = {
  async serve(settings, runtime) {
    const edgeq = await open(runtime, settings);
    const stopApi = await startApi(edgeq, settings, runtime);
    onceShutdown(runtime, async () => {
      await stopApi();
      await disconnect(edgeq);
    });
  },

  async worker(settings, runtime) {
    const { handlers, options } = await loadWorkerModule(runtime, settings.module!);
    const edgeq = await open(runtime, settings);
    const worker = await startWorker(edgeq, handlers, { ...options, ...settings.worker }, runtime);
    onceShutdown(runtime, async () => {
      await worker.stop();
      await disconnect(edgeq);
    });
  },

  dead: (settings, runtime) => runOnce(settings, runtime, (edgeq) => runDeadCommand(edgeq, settings.dead)),

  ...Object.fromEntries(
    CONTROL_NAMES.map((name) => [name, (settings: Invocation, runtime: Runtime) => runOnce(settings, runtime, (edgeq) => runControlCommand(edgeq, settings.control))]),
  ) as Record<(typeof CONTROL_NAMES)[number], Command>,

  async dev(settings, runtime) {
    const local: LocalNats | undefined = settings.natsUrlGiven
      ? undefined
      : await ensureLocalNats(runtime, settings.natsPort, ".edgeq/nats");
    if (local?.child) console.log(`edgeq: started nats-server at ${local.url} (store in .edgeq/nats)`);
    const edgeq = await open(runtime, local ? { ...settings, nats: { ...settings.nats, servers: [local.url] } } : settings);
    const { handlers } = await import("../workers/demo.ts");
    const stopApi = await startApi(edgeq, settings, runtime);
    const worker = await startWorker(edgeq, handlers, settings.worker, runtime);
    onceShutdown(runtime, async () => {
      await worker.stop();
      await stopApi();
      await disconnect(edgeq);
      local?.child?.kill();
      await local?.child?.exited;
    });
  },
};

/** A command that does one thing and exits: connects, prints what `run` resolves with, disconnects. */
async function runOnce(settings: Settings, runtime: Runtime, run: (edgeq: Edgeq) => Promise<string>): Promise<void> {
  const edgeq = await open(runtime, settings);
  try {
    console.log(await run(edgeq));
  } finally {
    await disconnect(edgeq);
  }
  runtime.exit(0);
}

/** Connects with the settings' servers, credentials and TLS, and opens edgeq with its settings. */
async function open(runtime: Runtime, settings: Settings): Promise<Edgeq> {
  const options = await natsConnectOptions(settings.nats, runtime.readTextFile);
  const where = settings.nats.servers.join(",");
  console.error(`edgeq: connecting to NATS at ${where}`); // stderr: stdout carries command output
  let nc: NatsConnection;
  try {
    nc = await runtime.connect(options);
  } catch (err) {
    throw new UnavailableError(
      `cannot reach NATS at ${where} (${(err as Error).message}); start nats-server -js, or set NATS_URL`,
    );
  }
  try {
    return await Edgeq.open(nc, settings.config);
  } catch (err) {
    await nc.close();
    throw err;
  }
}

/** Drains the connection, or just closes it when NATS is down and draining could only time out. */
function disconnect(edgeq: Edgeq): Promise<void> {
  return edgeq.connection.up ? edgeq.nc.drain() : edgeq.nc.close();
}

async function startApi(edgeq: Edgeq, settings: Settings, runtime: Runtime): Promise<() => Promise<void>> {
  const { tokens, rateLimit } = settings.api;
  // Loaded here: a worker process never loads Hono.
  const { createApi } = await import("./api/mod.ts");
  const app = createApi(edgeq, {
    gateway: `gateway-${runtime.hostname()}`,
    tokens,
    rateLimit,
    clientAddress: runtime.clientAddress,
  });
  const served = await runtime.serve(app.fetch, settings.port);
  // Every API process offers to promote delayed tasks; one at a time holds the lease.
  const scheduler = edgeq.scheduler({ holder: `api-${runtime.hostname()}-${crypto.randomUUID().slice(0, 8)}` });
  console.log(`edgeq: scheduler ${scheduler.holder}: promotes delayed tasks while it holds the lease`);
  console.log(`edgeq: API listening on http://localhost:${served.port} (${runtime.name})`);
  if (tokens.length === 0) {
    console.warn(
      `edgeq: WARNING: the API is OPEN: EDGEQ_API_TOKENS is not set, so anyone who can reach port ${served.port} can submit and read tasks`,
    );
  } else console.log(`edgeq: the API needs a bearer token (${tokens.length} configured)`);
  console.log(
    `edgeq: submissions ${rateLimit ? `limited to ${rateLimit.limit} per ${rateLimit.periodMs / 1000} s per caller` : "not rate limited"}`,
  );
  return async () => {
    await scheduler.stop();
    await served.close();
  };
}

async function startWorker(edgeq: Edgeq, handlers: Handlers, options: WorkerOptions, runtime: Runtime): Promise<Worker> {
  const worker = await edgeq.worker(handlers, { ...options, host: runtime.hostname(), runtime: runtime.name });
  const info = worker.info();
  console.log(
    `edgeq: worker ${info.id} (${runtime.name}) serving ${info.queues.join(", ")} with concurrency ${info.concurrency}; handlers: ${
      Object.keys(handlers).join(", ")
    }`,
  );
  return worker;
}

/** The shape of a worker module: `export const handlers = {...}` and optionally `export const options`. */
async function loadWorkerModule(runtime: Runtime, path: string): Promise<{ handlers: Handlers; options: WorkerOptions }> {
  let mod: Record<string, unknown>;
  try {
    mod = await runtime.importModule(path);
  } catch (err) {
    throw new EdgeqError(`cannot load worker module ${path}: ${(err as Error).message}`);
  }
  const source = (mod.handlers ? mod : mod.default ?? {}) as { handlers?: unknown; options?: unknown };
  if (typeof source.handlers !== "object" || source.handlers === null) {
    throw new EdgeqError(`worker module ${path} exports no "handlers" object`);
  }
  return { handlers: source.handlers as Handlers, options: (source.options ?? {}) as WorkerOptions };
}

/** First signal: shut down gracefully; a second one exits at once. */
function onceShutdown(runtime: Runtime, shutdown: () => Promise<void>): void {
  let stopping = false;
  runtime.onShutdown(() => {
    if (stopping) runtime.exit(130);
    stopping = true;
    console.log("edgeq: shutting down");
    shutdown().then(
      () => runtime.exit(0),
      (err) => {
        console.error(err instanceof z.ZodError ? describeIssues(err) : err);
        runtime.exit(1);
      },
    );
  });
}
