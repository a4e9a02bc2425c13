/** The `edgeq` command's extras on Node (and Bun): node:util's parseArgs and process.stdout/stdin. */
import { parseArgs } from "node:util";
import type { CliRuntime, Terminal } from "../../cli/mod.ts";
import { nodeRuntime } from "./runtime.ts";

const terminal: Terminal = {
  write: (text) => void process.stdout.write(text),
  isTTY: () => Boolean(process.stdout.isTTY),
  columns: () => process.stdout.columns ?? 80,
  onKey(fn) {
    const stdin = process.stdin;
    if (!stdin.isTTY) return () => {};
    stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    const listener = (key: string) => fn(key);
    stdin.on("data", listener);
    stdin.resume();
    return () => {
      stdin.off("data", listener);
      stdin.setRawMode(false);
      stdin.pause();
    };
  },
};

export const nodeCliRuntime: CliRuntime = { ...nodeRuntime, parseArgs, terminal };
