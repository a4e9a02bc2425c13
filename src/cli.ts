/**
 * The `edgeq` command, written once for every runtime: each adapter's main.ts calls `runCli` with
 * its Runtime.
 *
 *   edgeq serve                 the HTTP API
 *   edgeq worker <module>       a worker running the handlers the module exports
 *   edgeq dev                   API and demo worker in one process, with a local nats-server if needed
 *   edgeq dead …                the dead-letter stream (cli-dead-letters.ts)
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { z } from "zod";
import { createApi } from "./api.ts";
import { DEAD_USAGE, runDeadCommand } from "./cli-dead-letters.ts";
import { parseApiTokens } from "./auth.ts";
import { Edgeq } from "./client.ts";
import { describeIssues } from "./config.ts";
import { EdgeqError, UnavailableError } from "./errors.ts";
import { ensureLocalNats, type LocalNats } from "./local-nats.ts";
import { queueSchema } from "./message.ts";
import { parseRateLimit } from "./rate-limit.ts";
import type { Runtime } from "./runtime.ts";
import type { Handlers, Worker, WorkerOptions } from "./worker.ts";

const USAGE = `usage: edgeq <command> [options]

  serve                      run the HTTP API
  worker <module>            run a worker with the handlers <module> exports
  dev                        run the API and the demo worker (starts nats-server if none is running)
${DEAD_USAGE}

options:
  --port N                   HTTP port (env PORT, default 5000, as in the tutorial)
  --concurrency N            tasks a worker runs at once (env EDGEQ_CONCURRENCY, default 10)
  --queues a,b               queues a worker serves (env EDGEQ_QUEUES, default "default")
  --grace-ms N               on SIGINT/SIGTERM, how long running tasks may finish before they are
                             given back (env EDGEQ_SHUTDOWN_GRACE_MS, default 10000)
  --nats-port N              dev: port of the local nats-server (default 4222)

environment:
  NATS_URL                   NATS server(s), comma-separated (default nats://127.0.0.1:4222)
  EDGEQ_API_TOKENS           bearer tokens the API accepts, "<token>:<scope>,<scope>;..." with scopes
                             read (GET), submit (POST /tasks) and admin (changing dead letters);
                             unset: the API is open to anyone
  EDGEQ_RATE_LIMIT           submissions per token (or per client address when open): "<n>/s",
                             "<n>/min" or "off" (default off)
`;

function wholeNumber(min: number, max: number) {
  return z.coerce
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
}

const settingsSchema = z.object({
  command: z.enum(["serve", "worker", "dev", "dead", "help"], { error: "must be serve, worker, dev, dead or help" }),
  module: z.string().optional(),
  /** dead: the action and the task id. */
  args: z.array(z.string()),
  all: z.boolean(),
  queue: queueSchema.optional(),
  limit: wholeNumber(1, 1000).optional(),
  maxAttempts: wholeNumber(1, 1000).optional(),
  port: wholeNumber(0, 65535).default(5000),
  natsPort: wholeNumber(1, 65535).default(4222),
  natsUrl: z.string().min(1).optional(),
  // No defaults: a worker module's own options apply unless a flag or variable says otherwise.
  concurrency: wholeNumber(1, 10_000).optional(),
  graceMs: wholeNumber(0, 24 * 3600_000).optional(),
  queues: z
    .string()
    .transform((s) => s.split(",").map((q) => q.trim()))
    .pipe(z.array(queueSchema))
    .optional(),
  apiTokens: z.string().default("").transform(parsedBy(parseApiTokens)),
  rateLimit: z.string().default("").transform(parsedBy(parseRateLimit)),
});
type Settings = z.output<typeof settingsSchema>;

/** A zod transform from a parser that throws, so that its message is reported with the setting's source. */
function parsedBy<T>(parse: (text: string) => T) {
  return (text: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(text);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  };
}

/** Where each setting comes from, for error messages that name what the user typed. */
const SOURCES: Record<string, string> = {
  port: "--port / PORT",
  natsPort: "--nats-port",
  natsUrl: "NATS_URL",
  concurrency: "--concurrency / EDGEQ_CONCURRENCY",
  queues: "--queues / EDGEQ_QUEUES",
  graceMs: "--grace-ms / EDGEQ_SHUTDOWN_GRACE_MS",
  queue: "--queue",
  limit: "--limit",
  maxAttempts: "--max-attempts",
  apiTokens: "EDGEQ_API_TOKENS",
  rateLimit: "EDGEQ_RATE_LIMIT",
  command: "the command",
};

export async function runCli(argv: string[], runtime: Runtime): Promise<void> {
  try {
    const settings = readSettings(argv, runtime);
    if (settings.command === "help") return console.log(USAGE);
    await COMMANDS[settings.command](settings, runtime);
  } catch (err) {
    console.error(err instanceof EdgeqError ? `edgeq: ${err.message}` : err);
    runtime.exit(1);
  }
}

function readSettings(argv: string[], runtime: Runtime): Settings {
  const [command = "help", ...rest] = argv;
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(rest[i]);
    if (!match) positional.push(rest[i]);
    else if (match[1] === "all") flags.all = "true"; // takes no value
    else flags[match[1]] = match[2] ?? rest[++i] ?? "";
  }
  const raw = {
    command: command === "--help" || command === "-h" ? "help" : command,
    module: positional[0],
    args: positional,
    all: flags.all === "true",
    queue: flags.queue,
    limit: flags.limit,
    maxAttempts: flags["max-attempts"],
    port: flags.port ?? runtime.env("PORT") ?? undefined,
    natsPort: flags["nats-port"],
    natsUrl: runtime.env("NATS_URL") || undefined,
    concurrency: flags.concurrency ?? runtime.env("EDGEQ_CONCURRENCY") ?? undefined,
    queues: flags.queues ?? runtime.env("EDGEQ_QUEUES") ?? undefined,
    graceMs: flags["grace-ms"] ?? runtime.env("EDGEQ_SHUTDOWN_GRACE_MS") ?? undefined,
    apiTokens: runtime.env("EDGEQ_API_TOKENS"),
    rateLimit: runtime.env("EDGEQ_RATE_LIMIT"),
  };
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${SOURCES[String(i.path[0])] ?? i.path.join(".")}: ${i.message}`);
    throw new EdgeqError(`${where.join("; ")}\n\n${USAGE}`);
  }
  if (parsed.data.command === "worker" && !parsed.data.module) throw new EdgeqError(`worker needs a module\n\n${USAGE}`);
  return parsed.data;
}

const COMMANDS: Record<Exclude<Settings["command"], "help">, (s: Settings, r: Runtime) => Promise<void>> = {
  async serve(settings, runtime) {
    const edgeq = await Edgeq.open(await connectNats(runtime, settings.natsUrl ?? "nats://127.0.0.1:4222"));
    const stopApi = await startApi(edgeq, settings, runtime);
    onceShutdown(runtime, async () => {
      await stopApi();
      await disconnect(edgeq);
    });
  },

  async worker(settings, runtime) {
    const { handlers, options } = await loadWorkerModule(runtime, settings.module!);
    const edgeq = await Edgeq.open(await connectNats(runtime, settings.natsUrl ?? "nats://127.0.0.1:4222"));
    const worker = await startWorker(edgeq, handlers, { ...options, ...workerSettings(settings) }, runtime);
    onceShutdown(runtime, async () => {
      await worker.stop();
      await disconnect(edgeq);
    });
  },

  async dead(settings, runtime) {
    const edgeq = await Edgeq.open(await connectNats(runtime, settings.natsUrl ?? "nats://127.0.0.1:4222"));
    try {
      const [action, id] = settings.args;
      console.log(await runDeadCommand(edgeq, { ...settings, action, id }));
    } finally {
      await disconnect(edgeq);
    }
    runtime.exit(0);
  },

  async dev(settings, runtime) {
    const local: LocalNats = settings.natsUrl
      ? { url: settings.natsUrl }
      : await ensureLocalNats(runtime, settings.natsPort, ".edgeq/nats");
    if (local.child) console.log(`edgeq: started nats-server at ${local.url} (store in .edgeq/nats)`);
    const edgeq = await Edgeq.open(await connectNats(runtime, local.url));
    const { handlers } = await import("../workers/demo.ts");
    const stopApi = await startApi(edgeq, settings, runtime);
    const worker = await startWorker(edgeq, handlers, workerSettings(settings), runtime);
    onceShutdown(runtime, async () => {
      await worker.stop();
      await stopApi();
      await disconnect(edgeq);
      local.child?.kill();
      await local.child?.exited;
    });
  },
};

/** The worker options given on the command line or in the environment, and only those. */
function workerSettings({ concurrency, graceMs, queues }: Settings): WorkerOptions {
  const given = { concurrency, shutdownGraceMs: graceMs, queues };
  return Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
}

async function connectNats(runtime: Runtime, url: string): Promise<NatsConnection> {
  console.error(`edgeq: connecting to NATS at ${url}`); // stderr: stdout carries command output
  try {
    return await runtime.connect(url);
  } catch (err) {
    throw new UnavailableError(
      `cannot reach NATS at ${url} (${(err as Error).message}); start nats-server -js, or set NATS_URL`,
    );
  }
}

/** Drains the connection, or just closes it when NATS is down and draining could only time out. */
function disconnect(edgeq: Edgeq): Promise<void> {
  return edgeq.connection.up ? edgeq.nc.drain() : edgeq.nc.close();
}

async function startApi(edgeq: Edgeq, settings: Settings, runtime: Runtime): Promise<() => Promise<void>> {
  const { apiTokens: tokens, rateLimit } = settings;
  const app = createApi(edgeq, {
    gateway: `gateway-${runtime.hostname()}`,
    tokens,
    rateLimit,
    clientAddress: runtime.clientAddress,
  });
  const served = await runtime.serve(app.fetch, settings.port);
  console.log(`edgeq: API listening on http://localhost:${served.port} (${runtime.name})`);
  if (tokens.length === 0) {
    console.warn(
      `edgeq: WARNING: the API is OPEN: EDGEQ_API_TOKENS is not set, so anyone who can reach port ${served.port} can submit and read tasks`,
    );
  } else console.log(`edgeq: the API needs a bearer token (${tokens.length} configured)`);
  console.log(
    `edgeq: submissions ${rateLimit ? `limited to ${rateLimit.limit} per ${rateLimit.periodMs / 1000} s per caller` : "not rate limited"}`,
  );
  return () => served.close();
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
