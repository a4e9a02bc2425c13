/**
 * The scheduler's lease: one process at a time promotes delayed tasks. The holder keeps
 * `{"holder", "until", "cursor"}` under `leader` in the `edgeq_scheduler` bucket, every write
 * conditional on the revision it last wrote or read, so two processes cannot both renew it. Another
 * takes it over once `until` (the holder's clock) has passed: a holder that died is replaced within
 * `ttlMs` and one renewal interval. `cursor` is the first due slot not yet known to be promoted,
 * which the next holder goes on from.
 */
import type { KV } from "@nats-io/kv";

const KEY = "leader";

export interface LeaseState {
  holder: string;
  /** ms since the epoch, by the holder's clock. */
  until: number;
  cursor: number | null;
}

export class Lease {
  #revision = 0;
  #held = false;

  constructor(
    private readonly kv: KV,
    readonly holder: string,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get held(): boolean {
    return this.#held;
  }

  /**
   * Renews the lease if held, else takes it if it is free or has expired. Resolves with the cursor
   * the lease holds when this process holds it, else with undefined.
   */
  async hold(cursor: number | null): Promise<{ cursor: number | null } | undefined> {
    if (this.#held) {
      if (await this.#write(cursor, this.#revision)) return { cursor };
      this.#held = false;
    }
    const entry = await this.kv.get(KEY);
    let state: LeaseState | null = null;
    if (entry?.operation === "PUT") {
      try {
        state = entry.json<LeaseState>();
      } catch {
        // not a lease: taken over below
      }
    }
    if (state && state.holder !== this.holder && state.until > this.now()) return undefined;
    const from = state?.cursor ?? null;
    if (!(await this.#write(from, entry?.revision ?? 0))) return undefined;
    this.#held = true;
    return { cursor: from };
  }

  /** Gives the lease up, so that another process takes over at once. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    await this.kv.delete(KEY, { previousSeq: this.#revision }).catch(() => {});
  }

  /** Writes the lease at `revision` (0: none may exist); false when someone else wrote first. */
  async #write(cursor: number | null, revision: number): Promise<boolean> {
    const value = JSON.stringify({ holder: this.holder, until: this.now() + this.ttlMs, cursor } satisfies LeaseState);
    try {
      this.#revision = revision === 0 ? await this.kv.create(KEY, value) : await this.kv.update(KEY, value, revision);
      return true;
    } catch {
      return false;
    }
  }
}
