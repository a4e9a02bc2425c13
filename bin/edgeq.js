#!/usr/bin/env node
// edgeq on Node: TypeScript sources run through tsx, so that worker modules may be .ts too.
import { register } from "tsx/esm/api";

register();
await import("../src/adapter/node/main.ts");
