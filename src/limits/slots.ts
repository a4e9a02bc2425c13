/**
 * Concurrency slots: a limit of n on a scope is n KV entries, `slot.<scope>.<0..n-1>`, each present
 * while a run holds it. Taking one is a create conditional on the entry not existing (revision 0);
 * giving it back deletes its message by sequence (no delete marker is left, so a listing of the
 * scope's subjects shows exactly the slots held, and a create needs no read first).
 *
 * A slot names its holder: the worker's id and start time. A slot whose holder no longer beats (its
 * heartbeat entry expired, or it is another process under the same id) is stale, and is taken over
 * with a write conditional on its revision. So a SIGKILLed worker's slots come back within the
 * heartbeat TTL (`workerTtlMs`, 15 s by default), with no renewal writes while a run holds one.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { type Entry, LIMITS_STREAM, type LimitEntries, subjectOf } from "./entries.ts";

/** A slot a run holds. */
export interface Slot {
  scope: string;
  key: string;
  revision: number;
}

/** Who holds a slot. */
export interface Holder {
  worker: string;
  started_at: string;
}

interface SlotValue extends Holder {
  task: string;
  at: number;
}

/** A full scope's holders are looked at no more often than this. */
const STALE_CHECK_MS = 1000;
/** Holders looked at in one check. */
const MAX_STALE_READS = 16;

export class ConcurrencySlots {
  readonly #checkedAt = new Map<string, number>();

  constructor(
    private readonly entries: LimitEntries,
    private readonly jsm: JetStreamManager,
    private readonly holder: Holder,
    /** Whether the worker of `holder` still beats: its heartbeat, read. */
    private readonly isLive: (holder: Holder) => Promise<boolean>,
  ) {}

  /** Takes one of the `size` slots of `scope` for task `task`; null when all are held by live workers. */
  async acquire(scope: string, size: number, task: string): Promise<Slot | null> {
    const value: SlotValue = { ...this.holder, task, at: Date.now() };
    // A guess first: with room, one write.
    const guess = Math.floor(Math.random() * size);
    const first = await this.#create(scope, guess, value);
    if (first) return first;
    const held = await this.#held(scope);
    for (let n = 0; n < size; n++) {
      if (n === guess || held.has(n)) continue;
      const slot = await this.#create(scope, n, value);
      if (slot) return slot;
    }
    return this.#takeStale(scope, size, value);
  }

  /** Gives a slot back; one taken over meanwhile (its message gone already) is left to its new holder. */
  async release(slot: Slot): Promise<void> {
    try {
      await this.jsm.streams.deleteMessage(LIMITS_STREAM, slot.revision, false);
    } catch (err) {
      if (!/no message found/i.test((err as Error).message)) throw err;
    }
  }

  async #create(scope: string, n: number, value: SlotValue): Promise<Slot | null> {
    const key = slotKey(scope, n);
    const revision = await this.entries.put(key, value, 0);
    return revision === null ? null : { scope, key, revision };
  }

  /** The slot numbers of `scope` held now: one stream info. */
  async #held(scope: string): Promise<Set<number>> {
    const filter = subjectOf(`slot.${scope}.*`);
    const info = await this.jsm.streams.info(LIMITS_STREAM, { subjects_filter: filter });
    return new Set(Object.keys(info.state.subjects ?? {}).map((subject) => Number(subject.slice(subject.lastIndexOf(".") + 1))));
  }

  /** Takes over a slot whose holder is gone, at most once a second per scope. */
  async #takeStale(scope: string, size: number, value: SlotValue): Promise<Slot | null> {
    const now = Date.now();
    if (now - (this.#checkedAt.get(scope) ?? 0) < STALE_CHECK_MS) return null;
    this.#checkedAt.set(scope, now);
    if (this.#checkedAt.size > 10_000) this.#checkedAt.clear();
    const first = Math.floor(Math.random() * size);
    for (let i = 0; i < Math.min(size, MAX_STALE_READS); i++) {
      const key = slotKey(scope, (first + i) % size);
      const entry: Entry<SlotValue> | null = await this.entries.read(key);
      if (entry === null) {
        // Released since the listing.
        const revision = await this.entries.put(key, value, 0);
        if (revision !== null) return { scope, key, revision };
        continue;
      }
      if (await this.isLive(entry.value)) continue;
      const revision = await this.entries.put(key, value, entry.revision);
      if (revision !== null) return { scope, key, revision };
    }
    return null;
  }
}

function slotKey(scope: string, n: number): string {
  return `slot.${scope}.${n}`;
}
