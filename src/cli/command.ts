/** The shape of one `edgeq` command: its spec (flags, help) and what it does. */
import type { z } from "zod";
import { describeIssues } from "../nats/mod.ts";
import { ValidationError } from "../wire/mod.ts";
import { type EnvName, readSettings, type Settings } from "../client/mod.ts";
import type { CommandSpec } from "./args.ts";
import type { CliRuntime } from "./terminal.ts";
import { UsageError } from "./usage-error.ts";

/** What a one-shot command prints: `json` with --json, `text` otherwise. */
export interface Output {
  json: unknown;
  text: string;
  /** 0 unless said otherwise (`submit --wait` of a task that did not complete). */
  exitCode?: number;
}

export interface Context {
  runtime: CliRuntime;
  spec: CommandSpec;
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
  json: boolean;
  /** The settings from the environment, the command's flags (`--port`, …) taking precedence. */
  settings(): Settings;
  /** The flags checked against a zod schema; a failure names the flag. */
  check<S extends z.ZodType>(schema: S): z.output<S>;
}

export interface Command {
  spec: CommandSpec;
  /** One-shot commands resolve with their output; the long-running ones (serve, worker, dev, top) with nothing. */
  run(ctx: Context): Promise<Output | void>;
}

export function makeContext(runtime: CliRuntime, spec: CommandSpec, flags: Context["flags"], positionals: string[]): Context {
  return {
    runtime,
    spec,
    flags,
    positionals,
    json: flags.json === true,
    settings() {
      const own = Object.keys(spec.flags).filter((flag) => FLAG_VARIABLES[flag]);
      const overrides = Object.fromEntries(own.flatMap((flag) => (typeof flags[flag] === "string" ? [[FLAG_VARIABLES[flag], flags[flag]]] : [])));
      const labels = Object.fromEntries(own.map((flag) => [FLAG_VARIABLES[flag], `--${flag} / ${FLAG_VARIABLES[flag]}`]));
      try {
        return readSettings((name) => runtime.env(name), overrides, labels);
      } catch (err) {
        throw err instanceof ValidationError ? new UsageError(err.message, spec.name) : err;
      }
    },
    check(schema) {
      const parsed = schema.safeParse(flags);
      if (!parsed.success) throw new UsageError(describeIssues(parsed.error, "--"), spec.name);
      return parsed.data;
    },
  };
}

/** Flags that are a higher-priority source of one environment variable. */
const FLAG_VARIABLES: Record<string, EnvName> = {
  port: "PORT",
  concurrency: "EDGEQ_CONCURRENCY",
  queues: "EDGEQ_QUEUES",
  "grace-ms": "EDGEQ_SHUTDOWN_GRACE_MS",
};
