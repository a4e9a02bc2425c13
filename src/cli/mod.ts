/**
 * The `edgeq` command's one door (`edgeq/cli`): `runCli(argv, runtime)`, with the runtime an adapter
 * provides (src/adapter/*): the library's Runtime plus the argument parser and the terminal.
 */
export { runCli } from "./run.ts";
export { VERSION } from "./version.ts";
export type { ParseArgs } from "./args.ts";
export type { CliRuntime, Terminal } from "./terminal.ts";
