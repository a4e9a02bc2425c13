/**
 * Bundles the dashboard's browser code (src/dashboard/) with uPlot into one script and one style
 * sheet, and writes them as strings into dist/dashboard/assets.js, a module the API imports on the
 * first request for them (src/api/dashboard-assets.ts). A module rather than files read from disk:
 * `import()` works alike on Node, Deno and Bun, where reading a file would need each runtime's API.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

export async function bundleDashboard(outdir: string): Promise<void> {
  const result = await build({
    entryPoints: { dashboard: new URL("../src/dashboard/main.ts", import.meta.url).pathname },
    outdir: "/", // nothing is written: the outputs are read from memory
    write: false,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "inline",
    logLevel: "warning",
  });
  const text = (ext: string) => result.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? "";
  const module = `export const js = ${JSON.stringify(text(".js"))};\nexport const css = ${JSON.stringify(text(".css"))};\n`;
  mkdirSync(outdir, { recursive: true });
  // Written aside and renamed, so that an API importing it meanwhile reads a whole module.
  writeFileSync(`${outdir}assets.js.${process.pid}`, module);
  renameSync(`${outdir}assets.js.${process.pid}`, `${outdir}assets.js`);
}
