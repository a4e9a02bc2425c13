/**
 * How to run the `edgeq` command on each runtime from this checkout (after `npm ci`): Node through
 * bin/edgeq.js, Deno and Bun from their npm packages, and Deno over WebSocket.
 */
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The Deno that `npm ci` installs (the `deno` npm package). */
export const DENO = `${ROOT}node_modules/.bin/deno`;

export const RUNTIMES = ["node", "deno", "bun", "deno-websocket"] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

export function edgeqCommand(runtime: RuntimeName, args: string[]): { command: string; args: string[] } {
  const deno = (entry: string) => ({
    command: DENO,
    args: ["run", "-A", `--config=${ROOT}deno.json`, `${ROOT}src/adapter/deno/${entry}`, ...args],
  });
  switch (runtime) {
    case "node":
      return { command: process.execPath, args: [`${ROOT}bin/edgeq.js`, ...args] };
    case "deno":
      return deno("main.ts");
    case "deno-websocket":
      return deno("websocket.ts");
    case "bun":
      return { command: `${ROOT}node_modules/.bin/bun`, args: [`${ROOT}src/adapter/bun/main.ts`, ...args] };
  }
}
