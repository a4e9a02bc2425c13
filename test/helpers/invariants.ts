/**
 * The invariants every fault test ends with (issue 17), checked against what NATS holds:
 *
 * - every accepted id ends with exactly one final outcome (its record is final);
 * - no final outcome is overwritten: every revision the record bucket stored during the test is
 *   seen by a `RecordWatch`, and after a key's first final status none differs from it (events,
 *   once the API has them, plug in as another `OutcomeLog`);
 * - attempts ≤ max_attempts + slack (docs/architecture.md, "How the count is kept");
 * - every dead letter keeps its body (and every `dead` record has its letter);
 * - no work message remains for a finished task.
 *
 * `checkInvariants` throws an Error listing every violation, so it works in vitest and in scripts.
 */
import { type Consumer, DeliverPolicy } from "@nats-io/jetstream";
import type { Edgeq } from "../../src/client/client.ts";
import { consumerName, KV_OPERATION_HEADER, type Priority, TASKS_BUCKET, WORK_STREAM } from "../../src/wire/names.ts";
import { FINAL_STATUSES, parseRecord, type TaskRecord, type TaskStatus } from "../../src/wire/record.ts";

/** A sequence of statuses observed per task id, in the order they happened. */
export interface OutcomeLog {
  readonly name: string;
  statuses(id: string): readonly string[];
}

/**
 * Records every revision of every key of the record bucket from the moment it starts, with an
 * ordered consumer on the bucket's stream. Start it before the first submission. The bucket keeps
 * one revision per key, so a revision replaced before the consumer read it is not seen: `missed`
 * counts those (gaps in the stream sequences it read; a refused conditional write takes no
 * sequence, so a gap is a replaced or deleted revision), and tests assert it is 0 where they can.
 */
export class RecordWatch implements OutcomeLog {
  readonly name = "record revisions";
  readonly #seen = new Map<string, TaskStatus[]>();
  #revisions = 0;
  #missed = 0;
  /** The last stream sequence read, or the one the watch started after. */
  #last = 0;
  /** Revisions before this one were there when the watch started: gaps among them are not misses. */
  #start = 0;
  #stop: () => void = () => {};
  #done: Promise<void> = Promise.resolve();

  private constructor(private readonly edgeq: Edgeq) {}

  static async start(edgeq: Edgeq): Promise<RecordWatch> {
    const watch = new RecordWatch(edgeq);
    watch.#start = watch.#last = (await edgeq.jsm.streams.info(`KV_${TASKS_BUCKET}`)).state.last_seq;
    await watch.#follow({ deliver_policy: DeliverPolicy.All });
    return watch;
  }

  async #follow(from: { deliver_policy: DeliverPolicy; opt_start_seq?: number }): Promise<void> {
    const consumer: Consumer = await this.edgeq.js.consumers.get(`KV_${TASKS_BUCKET}`, from);
    const messages = await consumer.consume({ max_messages: 1000 });
    this.#stop = () => void messages.stop();
    const prefix = `$KV.${TASKS_BUCKET}.`;
    this.#done = (async () => {
      for await (const m of messages) {
        if (m.seq <= this.#last && m.seq > this.#start) continue; // read already, before a restart
        this.#revisions++;
        if (m.seq > this.#start) this.#missed += m.seq - this.#last - 1;
        this.#last = Math.max(this.#last, m.seq);
        if (m.headers?.get(KV_OPERATION_HEADER)) continue; // a delete or purge (the sweep), not a status
        const record = parseRecord(m.data);
        if (!record) continue;
        const id = m.subject.slice(prefix.length);
        const list = this.#seen.get(id) ?? [];
        list.push(record.status);
        this.#seen.set(id, list);
      }
    })();
  }

  get revisions(): number {
    return this.#revisions;
  }

  /**
   * Waits until the watch has read every revision stored so far. An ordered consumer can stall
   * across a partition (its ephemeral consumer was on the node cut off): one that reads nothing for
   * 5 s is followed again from where it stopped.
   */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    const target = (await this.edgeq.jsm.streams.info(`KV_${TASKS_BUCKET}`)).state.last_seq;
    const deadline = Date.now() + timeoutMs;
    let progress = { at: Date.now(), last: this.#last };
    while (this.#last < target) {
      if (Date.now() > deadline) throw new Error(`the record watch read up to ${this.#last}, not ${target}, in ${timeoutMs} ms`);
      if (this.#last !== progress.last) progress = { at: Date.now(), last: this.#last };
      else if (Date.now() - progress.at > 5000) {
        this.#stop(); // not awaited: a stalled iterator may not end
        await this.#follow({ deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#last + 1 });
        progress = { at: Date.now(), last: this.#last };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Revisions stored but replaced or deleted before the watch read them. */
  get missed(): number {
    return this.#missed;
  }

  statuses(id: string): readonly string[] {
    return this.#seen.get(id) ?? [];
  }

  async stop(): Promise<void> {
    this.#stop();
    await this.#done;
  }
}

export interface InvariantOptions {
  /** Each log's statuses are checked for overwritten outcomes; pass the RecordWatch started before submitting. */
  logs?: OutcomeLog[];
  /** The final status every accepted task must have, when the test knows it. */
  expectStatus?: TaskStatus;
  /** Attempts allowed beyond max_attempts (docs/architecture.md, "How the count is kept"): 1 by default. */
  attemptSlack?: number;
  /** Dead letters were requeued in the test: a `dead` record may then be followed by `pending`. */
  requeues?: boolean;
  /**
   * nats-server 2.9 after a SIGKILL can keep acknowledged work messages (nats-io/nats-server#5227):
   * allowed then, provided its consumer has passed it and awaits no ack (it is never delivered again).
   */
  ackedLeftoversAllowed?: boolean;
  /** How long to wait for the last acks and outcomes to land before calling a violation one. */
  settleMs?: number;
}

export interface InvariantReport {
  accepted: number;
  outcomes: Record<string, number>;
  deadLetters: number;
  revisionsSeen: number;
  revisionsMissed: number;
  leftoverAcked: number;
  /** How long the checker waited for the invariants to hold (lost acks come back after the ack wait). */
  waitedMs: number;
}

/** Checks the invariants, polling up to `settleMs` (default 40 s) until they hold; throws with every violation otherwise. */
export async function checkInvariants(edgeq: Edgeq, accepted: Iterable<string>, options: InvariantOptions = {}): Promise<InvariantReport> {
  const ids = [...new Set(accepted)];
  const started = Date.now();
  const deadline = started + (options.settleMs ?? 40_000);
  for (;;) {
    const { violations, report } = await checkOnce(edgeq, ids, options);
    if (violations.length === 0) return { ...report, waitedMs: Date.now() - started };
    if (Date.now() > deadline) {
      throw new Error(`invariants violated (${violations.length}):\n${violations.slice(0, 30).join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function checkOnce(edgeq: Edgeq, ids: string[], options: InvariantOptions): Promise<{ violations: string[]; report: Omit<InvariantReport, "waitedMs"> }> {
  const violations: string[] = [];
  const watch = options.logs?.find((l): l is RecordWatch => l instanceof RecordWatch);
  // Read the records after the watch has seen every revision stored so far.
  await watch?.caughtUp();
  const records = new Map<string, TaskRecord | null>();
  for (let i = 0; i < ids.length; i += 500) {
    const batch = ids.slice(i, i + 500);
    const read = await Promise.all(batch.map((id) => edgeq.tasks.get(id).catch((err) => err as Error)));
    batch.forEach((id, j) => {
      const r = read[j];
      if (r instanceof Error) violations.push(`${id}: its record cannot be read: ${r.message}`);
      else records.set(id, r);
    });
  }

  const outcomes: Record<string, number> = {};
  const slack = options.attemptSlack ?? 1;
  let deadLetters = 0;
  for (const [id, record] of records) {
    if (!record) {
      violations.push(`${id}: accepted, but no record and no work message (lost)`);
      continue;
    }
    outcomes[record.status] = (outcomes[record.status] ?? 0) + 1;
    if (!FINAL_STATUSES.includes(record.status)) violations.push(`${id}: not finished (${record.status})`);
    else if (options.expectStatus && record.status !== options.expectStatus) {
      violations.push(`${id}: ${record.status}, expected ${options.expectStatus} (${record.error})`);
    }
    if (record.attempts > record.max_attempts + slack) {
      violations.push(`${id}: ${record.attempts} attempts, max_attempts ${record.max_attempts} + slack ${slack}`);
    }
    // A final record was written during the test: a watch that missed nothing has seen it.
    if (watch && watch.missed === 0 && FINAL_STATUSES.includes(record.status) && watch.statuses(id).length === 0) {
      violations.push(`${id}: ${record.status}, but the record watch saw no revision of it`);
    }
    for (const log of options.logs ?? []) {
      const overwritten = overwrite(log.statuses(id), options.requeues ?? false);
      if (overwritten) violations.push(`${id}: ${log.name}: ${overwritten}`);
    }
  }

  // Every dead record has its letter, with the body the task was submitted with.
  const dead = [...records].filter(([, r]) => r?.status === "dead");
  for (const [id, record] of dead) {
    const letter = await edgeq.deadLetters.get(id).catch(() => null);
    if (!letter) {
      violations.push(`${id}: dead, but no dead letter`);
      continue;
    }
    deadLetters++;
    if (letter.body_omitted_bytes !== undefined) violations.push(`${id}: its dead letter lost its body (${letter.body_omitted_bytes} bytes)`);
    else if (!record!.data_omitted && JSON.stringify(letter.data) !== JSON.stringify(record!.data)) {
      violations.push(`${id}: its dead letter's body ${JSON.stringify(letter.data)} is not its data ${JSON.stringify(record!.data)}`);
    }
  }

  const leftoverAcked = await leftoverWork(edgeq, records, options.ackedLeftoversAllowed ?? false, violations);
  return {
    violations,
    report: { accepted: ids.length, outcomes, deadLetters, revisionsSeen: watch?.revisions ?? 0, revisionsMissed: watch?.missed ?? 0, leftoverAcked },
  };
}

/** The first overwrite of a final status in `statuses`, described; null if there is none. */
function overwrite(statuses: readonly string[], requeues: boolean): string | null {
  let final: string | null = null;
  for (const status of statuses) {
    if (final === "dead" && requeues && status === "pending") final = null;
    else if (final && status !== final) return `final ${final} overwritten by ${status} (${statuses.join(" → ")})`;
    else if (FINAL_STATUSES.includes(status as TaskStatus)) final = status;
  }
  return null;
}

/** Work messages of finished tasks still in the work stream: violations, or counted when allowed and acknowledged. */
async function leftoverWork(edgeq: Edgeq, records: Map<string, TaskRecord | null>, allowAcked: boolean, violations: string[]): Promise<number> {
  const info = await edgeq.jsm.streams.info(WORK_STREAM, { subjects_filter: ">" });
  let acked = 0;
  const consumers = new Map<string, { delivered: number; awaiting: number }>();
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const [, queue, priority, token] = subject.split(".");
    if (!token?.startsWith("=")) continue;
    const id = token.slice(1);
    const record = records.get(id);
    if (!record || !FINAL_STATUSES.includes(record.status)) continue;
    if (allowAcked) {
      const consumer = consumerName(queue, priority as Priority);
      if (!consumers.has(consumer)) {
        const info = await edgeq.jsm.consumers.info(WORK_STREAM, consumer);
        consumers.set(consumer, { delivered: info.delivered.stream_seq, awaiting: info.num_ack_pending });
      }
      // Passed by its consumer with no delivery awaiting an ack: it is never delivered again.
      const { delivered, awaiting } = consumers.get(consumer)!;
      const msg = await edgeq.jsm.streams.getMessage(WORK_STREAM, { last_by_subj: subject });
      if (msg && msg.seq <= delivered && awaiting === 0) {
        acked++;
        continue;
      }
    }
    violations.push(`${id}: ${record.status}, but its work message ${subject} is still in ${WORK_STREAM}`);
  }
  return acked;
}
