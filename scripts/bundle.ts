/**
 * How edgeq compiles code that runs on plain Node (the `edgeq` command, the bench processes): ES
 * module bundles, with dynamic imports split into chunks loaded only when reached, and packages
 * left external so that they resolve from node_modules.
 */
import { build } from "esbuild";

export async function bundleForNode(entryPoints: Record<string, string> | string[], outdir: string): Promise<void> {
  await build({
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    sourcemap: true,
    logLevel: "warning",
  });
}
