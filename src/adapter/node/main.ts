import { runCli } from "../../cli/mod.ts";
import { nodeCliRuntime } from "./cli.ts";

await runCli(process.argv.slice(2), nodeCliRuntime);
