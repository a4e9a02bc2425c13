/**
 * When JetStream last refused one of this process's submissions for lack of storage. A store filled
 * by other streams shows in no stream info /health reads, so /health reports storage as full for a
 * while after such a refusal. Kept on the error path only: a stored task costs nothing here.
 */
export class StorageRefusals {
  #last: { at: number; reason: string } | undefined;

  constructor(
    private readonly now: () => number = Date.now,
    readonly windowMs = 10_000,
  ) {}

  note(reason: string): void {
    this.#last = { at: this.now(), reason };
  }

  /** The reason of a refusal within the window, else null. */
  recent(): string | null {
    return this.#last && this.now() - this.#last.at < this.windowMs ? this.#last.reason : null;
  }
}
