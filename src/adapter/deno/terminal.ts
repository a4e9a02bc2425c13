/// <reference lib="deno.ns" />
/** The terminal on Deno: Deno.stdout, and Deno.stdin in raw mode for `edgeq top`'s keys. */
import type { Terminal } from "../../cli/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const denoTerminal: Terminal = {
  write(text) {
    const bytes = encoder.encode(text);
    for (let written = 0; written < bytes.length;) written += Deno.stdout.writeSync(bytes.subarray(written));
  },
  isTTY: () => Deno.stdout.isTerminal(),
  columns() {
    try {
      return Deno.consoleSize().columns;
    } catch {
      return 80;
    }
  },
  onKey(fn) {
    if (!Deno.stdin.isTerminal()) return () => {};
    Deno.stdin.setRaw(true);
    let stopped = false;
    (async () => {
      const buffer = new Uint8Array(16);
      while (!stopped) {
        const n = await Deno.stdin.read(buffer);
        if (n === null) break;
        fn(decoder.decode(buffer.subarray(0, n)));
      }
    })();
    return () => {
      stopped = true;
      Deno.stdin.setRaw(false);
    };
  },
};
