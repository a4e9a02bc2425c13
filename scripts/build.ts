/**
 * Builds what the package ships:
 * - dist/dashboard/: the dashboard's browser bundle, which the API serves on every runtime;
 * - dist/node/: the `edgeq` command for Node, bundled, with the API and the demo worker in chunks
 *   of their own, loaded only by the commands that use them (Deno and Bun run the sources);
 * - dist/lib/: the library's entry points (`edgeq`, `edgeq/api`, `edgeq/cli`) as ES modules with
 *   .d.ts files, one per source file, from tsconfig.build.json; with the dashboard's bundle in
 *   dist/lib/dist/dashboard/, two folders up from dist/lib/src/api/, where the API looks for it.
 *
 * dist/node is built beside and moved in file by file, chunks first and the entry last, then the old
 * build's leftovers removed: an `edgeq` started meanwhile (by a test, or `npm run cluster` in
 * another terminal) finds a whole build, never an empty directory.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundleForNode } from "./bundle.ts";
import { bundleDashboard } from "./dashboard.ts";

const root = new URL("../", import.meta.url).pathname;
await bundleDashboard(`${root}dist/dashboard/`);
const out = `${root}dist/node/`;
const fresh = `${root}dist/node-${process.pid}/`;
await bundleForNode({ edgeq: `${root}src/adapter/node/main.ts` }, fresh);
mkdirSync(out, { recursive: true });
const built = readdirSync(fresh).sort((a, b) => Number(a.startsWith("edgeq.")) - Number(b.startsWith("edgeq.")));
for (const file of built) renameSync(`${fresh}${file}`, `${out}${file}`);
rmSync(fresh, { recursive: true, force: true });
for (const file of readdirSync(out)) if (!built.includes(file)) rmSync(`${out}${file}`, { force: true });

const lib = `${root}dist/lib/`;
rmSync(lib, { recursive: true, force: true });
execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}tsconfig.build.json`], { stdio: "inherit" });
// tsc rewrites `./x.ts` to `./x.js` in the JavaScript but leaves the .d.ts files' imports as written.
for (const file of readdirSync(lib, { recursive: true, encoding: "utf8" })) {
  if (!file.endsWith(".d.ts")) continue;
  const text = readFileSync(join(lib, file), "utf8");
  writeFileSync(join(lib, file), text.replace(/((?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2"));
}
cpSync(`${root}dist/dashboard/`, `${lib}dist/dashboard/`, { recursive: true });
