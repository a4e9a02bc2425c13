#!/usr/bin/env node
// edgeq on Node: compiled JavaScript (npm ci builds it; `npm run build` after editing src/).
import { existsSync } from "node:fs";

const main = new URL("../dist/node/edgeq.js", import.meta.url);
if (!existsSync(main)) {
  console.error("edgeq: dist/node/edgeq.js is missing; run `npm run build` first");
  process.exit(1);
}
await import(main.href);
