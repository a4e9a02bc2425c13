/**
 * The safety net of releases, run by the scheduler's lease holder (src/delayed/scheduler.ts) every
 * second: it reads the links bucket and releases again
 * - a committed gate still there (its submitter died while releasing it);
 * - a watched link (a parent submitted without `Edgeq-Has-Dependents`, so its worker does not
 *   release it) whose task has ended;
 * - any other link whose task ended more than UNWATCHED_AFTER_MS ago (its release was cut short
 *   where no message was left to come back: a cancel, or a cascade of `dependency_failed`).
 * Releases are idempotent (release.ts), so a sweep that races a worker's release changes nothing.
 * While no task waits it costs a look at the bucket's stream info: no link is left, and nothing was written since.
 */
import type { Edgeq } from "../client/mod.ts";
import { DEPENDENTS_KEY_PREFIX, FINAL_STATUSES, FLOW_GATE_KEY_PREFIX, FLOWS_BUCKET, KV_OPERATION_HEADER } from "../wire/mod.ts";
import { inLanes, StreamScanner } from "../nats/mod.ts";
import type { Link } from "./links.ts";
import type { Flows } from "./flows.ts";

/** Between sweeps. */
const SWEEP_EVERY_MS = 1000;
/** A gate left committed this long is released again. */
const GATE_AFTER_MS = 2000;
/** A link not watched is looked at once it is this old: its parent's worker releases it otherwise. */
const UNWATCHED_AFTER_MS = 60_000;
/** Links looked at once. */
const WIDTH = 32;

const decoder = new TextDecoder();

export class DependencySweeper {
  readonly #scanner: StreamScanner;
  #lastAt = 0;
  /** The bucket's last sequence when a sweep found no link: nothing to do until it moves. */
  #emptyAt = -1;

  constructor(
    private readonly edgeq: Edgeq,
    private readonly flows: Flows,
    private readonly now: () => number,
    private readonly report: (err: unknown) => void,
  ) {
    this.#scanner = new StreamScanner(edgeq.nc, edgeq.jsm, edgeq.js.apiPrefix, `KV_${FLOWS_BUCKET}`, edgeq.maxPayload, "dependencies");
  }

  /** Sweeps if a sweep is due. */
  async tick(): Promise<void> {
    const now = this.now();
    if (now - this.#lastAt < SWEEP_EVERY_MS) return;
    this.#lastAt = now;
    const { state } = await this.edgeq.jsm.streams.info(`KV_${FLOWS_BUCKET}`);
    if (state.last_seq === this.#emptyAt) return;
    const found: { key: string; link: Link; age: number }[] = [];
    const prefix = `$KV.${FLOWS_BUCKET}.`;
    await this.#scanner.scan(1, (d) => {
      if (d.msg.headers?.get(KV_OPERATION_HEADER)) return true;
      try {
        found.push({ key: d.msg.subject.slice(prefix.length), link: JSON.parse(decoder.decode(d.msg.data)), age: now - d.storedAt });
      } catch {
        // not a link: left alone
      }
      return true;
    });
    if (found.length === 0) this.#emptyAt = state.last_seq;
    // One link that cannot be released now does not hold up the others.
    await inLanes(found.length, WIDTH, (i) => this.#sweep(found[i]).catch(this.report));
  }

  async #sweep({ key, link, age }: { key: string; link: Link; age: number }): Promise<void> {
    if (key.startsWith(FLOW_GATE_KEY_PREFIX)) {
      if (link.committed && age >= GATE_AFTER_MS) await this.flows.releaser.releaseGate(key.slice(FLOW_GATE_KEY_PREFIX.length));
      return;
    }
    if (!key.startsWith(DEPENDENTS_KEY_PREFIX) || (!link.watch && age < UNWATCHED_AFTER_MS)) return;
    const parent = await this.edgeq.tasks.get(key.slice(DEPENDENTS_KEY_PREFIX.length));
    if (parent && FINAL_STATUSES.includes(parent.status)) await this.flows.released(parent);
  }
}
