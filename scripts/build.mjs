/**
 * Compiles the `edgeq` command for Node into dist/node/: one ES module bundle, with the API and the
 * demo worker in chunks of their own, loaded only by the commands that use them. Packages stay
 * external. Deno and Bun run the TypeScript sources directly, so only Node needs this.
 */
import { build } from "esbuild";
import { rmSync } from "node:fs";

const out = new URL("../dist/node/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: { edgeq: new URL("../src/adapter/node/main.ts", import.meta.url).pathname },
  outdir: out,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});
