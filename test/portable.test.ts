/**
 * The core in src/ runs on any runtime: only the adapters under src/adapter/ may touch Node or Deno.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { expect, test } from "vitest";
import { ROOT } from "./helpers/processes.ts";

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []
  );
}

test("src/ outside src/adapter/ imports no runtime", () => {
  const core = sources(join(ROOT, "src")).filter((f) => !relative(ROOT, f).startsWith("src/adapter/"));
  expect(core.length).toBeGreaterThan(10);
  const offenders = core.flatMap((file) => {
    const text = readFileSync(file, "utf8");
    const hits = [/from "node:/, /\bDeno\./, /\bprocess\./, /\brequire\(/, /NodeJS\./].filter((p) => p.test(text));
    return hits.map((p) => `${relative(ROOT, file)}: ${p}`);
  });
  expect(offenders).toEqual([]);
});

test("the public API is one explicit list of exports", () => {
  const mod = readFileSync(join(ROOT, "src/mod.ts"), "utf8");
  expect(mod).not.toMatch(/export \*/);
});

test("the library, which a worker process loads, bundles without Hono, the API or the CLI", async () => {
  const { build } = await import("esbuild");
  const bundled = async (entry: string) => {
    const result = await build({ entryPoints: [join(ROOT, entry)], bundle: true, write: false, metafile: true, platform: "node", format: "esm", logLevel: "silent" });
    return Object.keys(result.metafile.inputs);
  };
  const library = await bundled("src/mod.ts");
  expect(library).toContainEqual(expect.stringContaining("src/worker/worker.ts"));
  expect(library.filter((path) => /node_modules\/hono\/|src\/api\/app\.ts|src\/cli\//.test(path))).toEqual([]);
  // The check can fail: the API's door does bundle Hono.
  const api = await bundled("src/api/mod.ts");
  expect(api).toContainEqual(expect.stringContaining("node_modules/hono/"));
  // The dashboard's browser code and uPlot reach the API only as the built assets module, never as sources.
  expect([...library, ...api].filter((path) => /src\/dashboard\/|node_modules\/uplot\//.test(path))).toEqual([]);
});
