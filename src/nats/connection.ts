/**
 * Follows a NATS connection's state so that callers can refuse work at once while it is down
 * (instead of waiting out a request time-out) and restart what the server forgot on reconnect.
 */
import type { NatsConnection } from "@nats-io/nats-core";

export class ConnectionState {
  #up = true;
  readonly #onReconnect = new Set<() => void>();

  constructor(readonly nc: NatsConnection) {
    this.#follow().catch(() => {});
  }

  get up(): boolean {
    return this.#up && !this.nc.isClosed();
  }

  /** Runs `fn` after every reconnect; returns a function that stops it. */
  onReconnect(fn: () => void): () => void {
    this.#onReconnect.add(fn);
    return () => this.#onReconnect.delete(fn);
  }

  async #follow(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === "disconnect") this.#up = false;
      if (status.type === "reconnect") {
        this.#up = true;
        for (const fn of this.#onReconnect) fn();
      }
    }
  }
}
