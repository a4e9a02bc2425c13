/// <reference lib="deno.ns" />
import { parseArgs } from "node:util";
import { runCli } from "../../cli/mod.ts";
import { denoRuntime } from "./runtime.ts";
import { denoTerminal } from "./terminal.ts";

await runCli(Deno.args, { ...denoRuntime, parseArgs, terminal: denoTerminal });
