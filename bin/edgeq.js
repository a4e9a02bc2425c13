#!/usr/bin/env node
// edgeq on Node: the compiled command (dist/node, built by `npm run build` and shipped in the
// package). In a checkout that was not built yet, the sources run through tsx instead.
import { existsSync } from "node:fs";

const built = new URL("../dist/node/edgeq.js", import.meta.url);
const source = new URL("../src/adapter/node/main.ts", import.meta.url);
if (existsSync(built)) await import(built.href);
else if (existsSync(source)) {
  (await import("tsx/esm/api")).register();
  await import(source.href);
} else {
  console.error("edgeq: dist/node/edgeq.js is missing; run `npm run build` first");
  process.exit(1);
}
