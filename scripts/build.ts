/**
 * Compiles the `edgeq` command for Node into dist/node/, with the API and the demo worker in chunks
 * of their own, loaded only by the commands that use them. Deno and Bun run the TypeScript sources
 * directly, so only Node needs this.
 */
import { rmSync } from "node:fs";
import { bundleForNode } from "./bundle.ts";

const out = new URL("../dist/node/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
await bundleForNode({ edgeq: new URL("../src/adapter/node/main.ts", import.meta.url).pathname }, out);
