/// <reference lib="deno.ns" />
import { runCli } from "../../cli.ts";
import { denoRuntime } from "./runtime.ts";

await runCli(Deno.args, denoRuntime);
