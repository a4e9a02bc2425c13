/** The `edgeq` command on Bun, which runs the Node adapter through its Node compatibility. */
import { runCli } from "../../cli.ts";
import { nodeRuntime } from "../node/runtime.ts";

await runCli(process.argv.slice(2), { ...nodeRuntime, name: "bun" });
