/**
 * What the command needs from the runtime beyond the library's Runtime: the argument parser and the
 * terminal (progress bars and `edgeq top` redraw in place and read single keys).
 */
import type { Runtime } from "../adapter/mod.ts";
import type { ParseArgs } from "./args.ts";

export interface Terminal {
  /** Writes to stdout without adding a newline. */
  write(text: string): void;
  /** Whether stdout is a terminal: only then do progress bars and `top` redraw in place. */
  isTTY(): boolean;
  columns(): number;
  /**
   * Calls `fn` with each key pressed (raw mode, so Ctrl-C arrives as "\u0003"); the function it
   * returns puts the terminal back. Without a terminal on stdin it does nothing.
   */
  onKey(fn: (key: string) => void): () => void;
}

export interface CliRuntime extends Runtime {
  parseArgs: ParseArgs;
  terminal: Terminal;
}
