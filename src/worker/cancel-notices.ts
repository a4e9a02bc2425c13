/**
 * Cancel notices (`edgeq_cancel.<id>`, sent once a task's `canceled` record is stored; see
 * tasks/cancel.ts). Every worker subscribes to all of them: a notice aborts the run of that task here, if
 * there is one. It is also remembered for a while, so that a delivery of the task that reaches this
 * worker after the notice (it left the server before its message was deleted) is settled unrun.
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { CANCEL_SUBJECT_ROOT } from "../wire/mod.ts";

/** How long a notice is remembered: far longer than a delivery spends on its way. */
const REMEMBER_MS = 60_000;
/** Notices remembered at most; the oldest go first. */
const MAX_REMEMBERED = 10_000;

export class CancelNotices {
  /** Task id → when its notice came (`now()`), oldest first. */
  readonly #recent = new Map<string, number>();
  #sub?: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly onCancel: (id: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    const prefix = `${CANCEL_SUBJECT_ROOT}.`;
    this.#sub = this.nc.subscribe(`${prefix}>`, {
      callback: (err, msg) => {
        if (err) return;
        const id = msg.subject.slice(prefix.length);
        this.#forgetOld();
        this.#recent.delete(id);
        this.#recent.set(id, this.now());
        if (this.#recent.size > MAX_REMEMBERED) this.#recent.delete(this.#recent.keys().next().value!);
        this.onCancel(id);
      },
    });
  }

  /** Whether task `id` was canceled lately; on the hot path, so a size check when none was. */
  has(id: string): boolean {
    if (this.#recent.size === 0) return false;
    this.#forgetOld();
    return this.#recent.has(id);
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }

  #forgetOld(): void {
    const cutoff = this.now() - REMEMBER_MS;
    for (const [id, at] of this.#recent) {
      if (at >= cutoff) return;
      this.#recent.delete(id);
    }
  }
}
