/**
 * The `edgeq` command, written once for every runtime: each adapter's main.ts calls `runCli` with
 * its runtime. Arguments are checked before anything connects, and `--help` connects to nothing.
 */
import { closest, type CommandSpec, commandHelp, parseCommand } from "./args.ts";
import { type Command, makeContext } from "./command.ts";
import { cancel, pause, queues, resume, schedules, workers } from "./control.ts";
import { dead } from "./dead-letters.ts";
import { dev, serve, worker } from "./serve.ts";
import { submit } from "./submit.ts";
import { task, tasks } from "./tasks.ts";
import type { CliRuntime } from "./terminal.ts";
import { top } from "./top.ts";
import { describeFailure, UsageError } from "./usage-error.ts";
import { VERSION } from "./version.ts";

const COMMANDS: Command[] = [
  serve, worker, dev,
  submit, tasks, task, cancel,
  queues, pause, resume, workers, schedules, dead,
  top,
];
const BY_NAME = new Map(COMMANDS.map((c) => [c.spec.name, c]));

function usage(): string {
  const line = (s: CommandSpec) => `  ${`${s.name} ${s.args}`.padEnd(44)} ${s.summary.split(/[.;:(]/)[0]}`;
  return [
    `edgeq ${VERSION}: a task queue on NATS JetStream`,
    "",
    "usage: edgeq <command> [arguments] [flags]",
    "",
    "commands:",
    ...COMMANDS.map((c) => line(c.spec)),
    "",
    "Every command takes --json (output for scripts) and --help. `edgeq --version` prints the version.",
    "Commands reach NATS at NATS_URL (default nats://127.0.0.1:4222); every variable: docs/deploy.md.",
  ].join("\n");
}

export async function runCli(argv: string[], runtime: CliRuntime): Promise<void> {
  try {
    const [given, ...rest] = argv;
    if (given === undefined || given === "--help" || given === "-h" || given === "help") {
      const about = given === "help" && rest[0] !== undefined ? BY_NAME.get(rest[0]) : undefined;
      if (given === "help" && rest[0] !== undefined && !about) throw unknownCommand(rest[0]);
      console.log(about ? commandHelp(about.spec) : usage());
      return runtime.exit(given === undefined ? 1 : 0);
    }
    if (given === "--version" || given === "-v") return (console.log(VERSION), runtime.exit(0));
    const command = BY_NAME.get(given);
    if (!command) throw unknownCommand(given);
    const { flags, positionals } = parseCommand(command.spec, rest, runtime.parseArgs);
    if (flags.help === true) return (console.log(commandHelp(command.spec)), runtime.exit(0));
    const output = await command.run(makeContext(runtime, command.spec, flags, positionals));
    if (output) {
      console.log(flags.json === true ? JSON.stringify(output.json, null, 2) : output.text);
      runtime.exit(output.exitCode ?? 0);
    }
  } catch (err) {
    console.error(describeFailure(err));
    runtime.exit(1);
  }
}

function unknownCommand(given: string): UsageError {
  const guess = closest(given, [...BY_NAME.keys()]);
  return new UsageError(`unknown command "${given}"${guess ? `; did you mean "${guess}"?` : ""}; one of ${[...BY_NAME.keys()].join(", ")}`);
}
