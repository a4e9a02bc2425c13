/**
 * Compiles the `edgeq` command for Node into dist/node/, with the API and the demo worker in chunks
 * of their own, loaded only by the commands that use them. Deno and Bun run the TypeScript sources
 * directly, so only Node needs this. First, the dashboard's browser bundle into dist/dashboard/,
 * which the API serves on every runtime.
 *
 * Built beside dist/node and moved in file by file, chunks first and the entry last, then the old
 * build's leftovers removed: an `edgeq` started meanwhile (by a test, or `npm run cluster` in
 * another terminal) finds a whole build, never an empty directory.
 */
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { bundleForNode } from "./bundle.ts";
import { bundleDashboard } from "./dashboard.ts";

await bundleDashboard(new URL("../dist/dashboard/", import.meta.url).pathname);
const out = new URL("../dist/node/", import.meta.url).pathname;
const fresh = new URL(`../dist/node-${process.pid}/`, import.meta.url).pathname;
await bundleForNode({ edgeq: new URL("../src/adapter/node/main.ts", import.meta.url).pathname }, fresh);
mkdirSync(out, { recursive: true });
const built = readdirSync(fresh).sort((a, b) => Number(a.startsWith("edgeq.")) - Number(b.startsWith("edgeq.")));
for (const file of built) renameSync(`${fresh}${file}`, `${out}${file}`);
rmSync(fresh, { recursive: true, force: true });
for (const file of readdirSync(out)) if (!built.includes(file)) rmSync(`${out}${file}`, { force: true });
