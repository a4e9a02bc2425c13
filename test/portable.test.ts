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
