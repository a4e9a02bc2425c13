/**
 * A one-line progress bar with rate and ETA, redrawn in place on a terminal and silent elsewhere.
 * Written here rather than taken from cli-progress, which needs Node's `events` and `readline`:
 * the command also runs from the WebSocket entry, which carries no Node built-in.
 */
import type { Terminal } from "./terminal.ts";

export class ProgressBar {
  readonly #started = Date.now();
  #lastDraw = 0;

  constructor(
    private readonly terminal: Terminal,
    private readonly total: number,
    private readonly label: string,
  ) {}

  /** Draws at most 10 times a second, and always the last update. */
  update(done: number): void {
    if (!this.terminal.isTTY()) return;
    const now = Date.now();
    if (done < this.total && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const seconds = Math.max(0.001, (now - this.#started) / 1000);
    const rate = done / seconds;
    const eta = rate > 0 ? Math.ceil((this.total - done) / rate) : Infinity;
    const width = Math.max(10, Math.min(40, this.terminal.columns() - 60));
    const filled = this.total ? Math.round((done / this.total) * width) : width;
    const percent = this.total ? Math.floor((done / this.total) * 100) : 100;
    this.terminal.write(
      `\r\x1b[2K${this.label} [${"█".repeat(filled)}${"░".repeat(width - filled)}] ${percent}% ${done}/${this.total} | ${Math.round(rate)}/s | ETA ${Number.isFinite(eta) ? `${eta}s` : "–"}`,
    );
  }

  stop(): void {
    if (this.terminal.isTTY()) this.terminal.write("\n");
  }
}
