/** The `edgeq` command on Bun, which runs the Node adapter through its Node compatibility. */
import { runCli } from "../../cli/mod.ts";
import { nodeCliRuntime } from "../node/cli.ts";

await runCli(process.argv.slice(2), { ...nodeCliRuntime, name: "bun" });
