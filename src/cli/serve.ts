/**
 * The long-running commands: `edgeq serve` (the HTTP API), `edgeq worker <module>` and `edgeq dev`
 * (both, with a local nats-server if none runs). They run until SIGINT or SIGTERM.
 */
import { z } from "zod";
import { DEFAULT_NATS_URL, type Edgeq, type Settings, wholeNumber } from "../client/mod.ts";
import { describeIssues } from "../nats/mod.ts";
import { EdgeqError } from "../wire/mod.ts";
import type { Runtime } from "../adapter/mod.ts";
import type { Handlers, Worker, WorkerOptions } from "../worker/mod.ts";
import type { FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { disconnect, open } from "./connect.ts";
import { ensureLocalNats } from "./local-nats.ts";
import { portInUse } from "./usage-error.ts";

const PORT: Record<string, FlagSpec> = { port: { type: "string", value: "N", help: "HTTP port (env PORT, default 5000)" } };
const WORKER: Record<string, FlagSpec> = {
  concurrency: { type: "string", value: "N", help: "tasks run at once (env EDGEQ_CONCURRENCY, default 10)" },
  queues: { type: "string", value: "a,b", help: 'queues served (env EDGEQ_QUEUES, default "default")' },
  "grace-ms": { type: "string", value: "N", help: "on SIGINT/SIGTERM, how long running tasks may finish (default 10000)" },
};
const ENVIRONMENT = "environment: NATS_URL and the rest in docs/deploy.md (EDGEQ_API_TOKENS, EDGEQ_RATE_LIMIT, …)";

export const serve: Command = {
  spec: { name: "serve", args: "", summary: "Runs the HTTP API.", flags: PORT, positionals: [0, 0], more: ENVIRONMENT },
  async run(ctx) {
    const settings = ctx.settings();
    const edgeq = await connectLoudly(ctx.runtime, settings);
    const stopApi = await startApi(edgeq, settings, ctx.runtime).catch(async (err) => {
      await disconnect(edgeq);
      throw err;
    });
    onceShutdown(ctx.runtime, async () => {
      await stopApi();
      await disconnect(edgeq);
    });
  },
};

export const worker: Command = {
  spec: {
    name: "worker",
    args: "<module>",
    summary: "Runs a worker with the handlers the module exports (`export const handlers = {…}`, optionally `export const options`).",
    flags: WORKER,
    positionals: [1, 1],
    more: ENVIRONMENT,
  },
  async run(ctx) {
    const settings = ctx.settings();
    const { handlers, options } = await loadWorkerModule(ctx.runtime, ctx.positionals[0]);
    const edgeq = await connectLoudly(ctx.runtime, settings);
    const running = await startWorker(edgeq, handlers, { ...options, ...settings.worker }, ctx.runtime);
    onceShutdown(ctx.runtime, async () => {
      await running.stop();
      await disconnect(edgeq);
    });
  },
};

export const dev: Command = {
  spec: {
    name: "dev",
    args: "",
    summary: "Runs the API and the demo worker together; without NATS_URL it joins the nats-server on 127.0.0.1 (--nats-port), or starts one with its store in .edgeq/nats.",
    flags: { ...PORT, ...WORKER, "nats-port": { type: "string", value: "N", help: "port of the local nats-server (default 4222)" } },
    positionals: [0, 0],
    more: ENVIRONMENT,
  },
  async run(ctx) {
    const settings = ctx.settings();
    const { "nats-port": natsPort } = ctx.check(z.object({ "nats-port": wholeNumber(z.number().min(1).max(65535)).transform((p) => p ?? 4222) }));
    // As readSettings reads it: blank is not set.
    const local = ctx.runtime.env("NATS_URL")?.trim() ? undefined : await ensureLocalNats(ctx.runtime, natsPort, ".edgeq/nats");
    if (local?.child) console.log(`edgeq: started nats-server at ${local.url} (store in .edgeq/nats)`);
    else if (local) console.log(`edgeq: joined the nats-server already running at ${local.url} (set NATS_URL or --nats-port to use another)`);
    const edgeq = await connectLoudly(ctx.runtime, local ? { ...settings, nats: { ...settings.nats, servers: [local.url] } } : settings);
    const stopLocal = async () => {
      local?.child?.kill();
      await local?.child?.exited;
    };
    try {
      const { handlers } = await import("../../workers/demo.ts");
      const stopApi = await startApi(edgeq, settings, ctx.runtime);
      const running = await startWorker(edgeq, handlers, settings.worker, ctx.runtime);
      onceShutdown(ctx.runtime, async () => {
        await running.stop();
        await stopApi();
        await disconnect(edgeq);
        await stopLocal();
      });
    } catch (err) {
      await disconnect(edgeq);
      await stopLocal();
      throw err;
    }
  },
};

/** `open`, saying where it connects (on stderr: stdout carries command output). */
function connectLoudly(runtime: Runtime, settings: Settings): Promise<Edgeq> {
  console.error(`edgeq: connecting to NATS at ${settings.nats.servers.join(",") || DEFAULT_NATS_URL}`);
  return open(runtime, settings);
}

async function startApi(edgeq: Edgeq, settings: Settings, runtime: Runtime): Promise<() => Promise<void>> {
  const { tokens, rateLimit } = settings.api;
  // Loaded here: a worker process never loads Hono.
  const { createApi } = await import("../api/mod.ts");
  const app = createApi(edgeq, {
    gateway: `gateway-${runtime.hostname()}`,
    tokens,
    rateLimit,
    clientAddress: runtime.clientAddress,
  });
  const served = await runtime.serve(app.fetch, settings.port).catch((err) => {
    throw portInUse(err, settings.port) ?? err;
  });
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
  const started = await edgeq.worker(handlers, { ...options, host: runtime.hostname(), runtime: runtime.name });
  const info = started.info();
  console.log(
    `edgeq: worker ${info.id} (${runtime.name}) serving ${info.queues.join(", ")} with concurrency ${info.concurrency}; handlers: ${
      Object.keys(handlers).join(", ")
    }`,
  );
  return started;
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
