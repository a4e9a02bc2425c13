import { runCli } from "../../cli.ts";
import { nodeRuntime } from "./runtime.ts";

await runCli(process.argv.slice(2), nodeRuntime);
