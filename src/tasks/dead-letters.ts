/**
 * The dead-letter stream: tasks that used up their attempts, and work messages no worker can read.
 *
 * One message per dead task on `edgeq_dead.<task id>` (the stream keeps the newest per subject). Its
 * body is the work message's body, byte for byte, so a requeue sends exactly what was submitted (if
 * body and headers together would exceed the server's max payload, the body is left out and
 * `Edgeq-Body-Omitted` gives its size); its headers say what happened:
 *
 *   Edgeq-Task-Id       the task id
 *   Edgeq-Subject       the work subject it was published on
 *   Edgeq-Reason        why it died
 *   Edgeq-Attempts      attempts it had
 *   Edgeq-History       the record's attempt history, JSON (oldest entries dropped to fit)
 *   Edgeq-Body-Omitted  the body's size in bytes, when it was left out
 *   Edgeq-Max-Attempts, Edgeq-Backoff, Edgeq-Timeout-Ms   as the work message carried them
 */
import { headers as natsHeaders, type Msg, type MsgHdrs } from "@nats-io/nats-core";
import { JetStreamApiError } from "@nats-io/jetstream";
import type { Edgeq } from "../client/mod.ts";
import { type Delivery, inLanes, parseInput, StreamScanner } from "../nats/mod.ts";
import {
  type Attempt,
  ConflictError,
  DEAD_STREAM,
  deadSubject,
  HEADER_ID,
  HEADER_MAX_ATTEMPTS,
  HEADER_RECORD_REVISION,
  HEADER_SUBJECT,
  HEADER_TASK_ID,
  headersOf,
  idSchema,
  KEPT_HEADERS,
  maxAttemptsSchema,
  newRecord,
  NotFoundError,
  parseBody,
  parseTaskSubject,
  PoisonMessageError,
  type Priority,
  resolvePolicy,
  TRACE_HEADERS,
  UnavailableError,
  ValidationError,
  WORK_STREAM,
} from "../wire/mod.ts";

const HEADER_REASON = "Edgeq-Reason";
const HEADER_ATTEMPTS = "Edgeq-Attempts";
const HEADER_HISTORY = "Edgeq-History";
const HEADER_BODY_OMITTED = "Edgeq-Body-Omitted";
/** Longest policy header a dead letter keeps (a valid one is shorter); a longer one is dropped, never cut. */
const MAX_POLICY_HEADER = 2000;
/** The work message's headers a letter keeps, and a requeue sends again: its policy and its trace context. */
/** What a dead letter keeps of its task's headers, and a requeue sends again: the policy, the key and the trace context. */
const KEPT = [...KEPT_HEADERS, ...TRACE_HEADERS];
/** Dead letters requeued or purged at once by the `…All` methods. */
const PARALLEL = 64;
/** Room kept for the protocol line and the headers' framing, in bytes. */
const FRAMING = 512;

/** A dead letter as the API and the library show it. */
export interface DeadLetter {
  id: string;
  /** From the work subject; null when the subject was not one (never, for messages the stream took). */
  type: string | null;
  queue: string | null;
  priority: Priority | null;
  subject: string;
  /** The task's data; null when the body is not UTF-8 text (then `raw_base64` has it) or was left out. */
  data: unknown;
  raw_base64?: string;
  /** The body's size, when it was too large to keep with the letter's headers. */
  body_omitted_bytes?: number;
  reason: string;
  attempts: number;
  history: Attempt[];
  headers: Record<string, string>;
  dead_at: string;
  /** Its sequence in the dead-letter stream. */
  seq: number;
}

/** A dead letter's message as the stream holds it. */
interface Stored {
  subject: string;
  headers: MsgHdrs | undefined;
  body: Uint8Array;
  seq: number;
  storedAt: number;
}

/** What the worker knows of a task it gives up on. */
export interface Burial {
  id: string;
  subject: string;
  headers: MsgHdrs | undefined;
  body: Uint8Array;
  reason: string;
  attempts: number;
  history: Attempt[];
  /** The work message's sequence: with the id, it makes the dead letter's de-duplication key. */
  workSeq: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class DeadLetters {
  readonly #scanner: StreamScanner;

  constructor(private readonly edgeq: Edgeq) {
    this.#scanner = new StreamScanner(edgeq.nc, edgeq.jsm, edgeq.js.apiPrefix, DEAD_STREAM, edgeq.maxPayload, "dead letters");
  }

  /** Stores a dead letter. Sent again after a crash, it is stored once (the duplicate window). */
  async add(burial: Burial): Promise<void> {
    const headers = natsHeaders();
    headers.set(HEADER_ID, `${burial.id}:${burial.workSeq}`);
    headers.set(HEADER_TASK_ID, burial.id);
    headers.set(HEADER_SUBJECT, burial.subject);
    headers.set(HEADER_REASON, oneLine(burial.reason).slice(0, 2000));
    headers.set(HEADER_ATTEMPTS, String(burial.attempts));
    for (const name of KEPT) {
      const value = burial.headers?.get(name);
      if (value && value.length <= MAX_POLICY_HEADER) headers.set(name, oneLine(value));
    }
    // Bytes, not characters: the server's limit is on the whole message ("NATS/1.0\r\n", "k: v\r\n" each, "\r\n").
    const size = (h: MsgHdrs) => [...h].reduce((n, [k, vs]) => n + vs.reduce((m, v) => m + k.length + encoder.encode(v).length + 4, 0), 12);
    let body = burial.body;
    if (body.length + size(headers) + FRAMING > this.edgeq.maxPayload) {
      headers.set(HEADER_BODY_OMITTED, String(body.length));
      body = new Uint8Array();
    }
    // The history gives way, oldest first, to what room is left.
    const room = this.edgeq.maxPayload - body.length - size(headers) - FRAMING;
    let history = encoder.encode(JSON.stringify(burial.history));
    for (let kept = burial.history; history.length + HEADER_HISTORY.length + 4 > room && kept.length > 0;) {
      kept = kept.slice(1);
      history = encoder.encode(JSON.stringify(kept));
    }
    headers.set(HEADER_HISTORY, decoder.decode(history));
    await this.edgeq.js.publish(deadSubject(burial.id), body, { headers });
  }

  /** Newest first, optionally of one queue. */
  async list({ queue, limit }: { queue?: string; limit: number }): Promise<DeadLetter[]> {
    const { state } = await this.edgeq.jsm.streams.info(DEAD_STREAM);
    const found: DeadLetter[] = [];
    let end = state.last_seq + 1;
    // An empty stream's first_seq is 0 (fresh) or past its last (purged): nothing to read either way.
    for (let window = limit * 2; state.messages > 0 && end > state.first_seq && found.length < limit; window *= 4) {
      const start = Math.max(state.first_seq, end - window);
      const read: DeadLetter[] = [];
      await this.#scanner.scan(start, (d) => {
        if (d.streamSeq >= end) return false;
        const letter = readLetter(storedOf(d));
        if (!queue || letter.queue === queue) read.push(letter);
        return true;
      });
      found.push(...read.reverse());
      end = start;
    }
    return found.slice(0, limit);
  }

  async get(id: string): Promise<DeadLetter> {
    return readLetter(await this.#find(id));
  }

  /**
   * Publishes the task again under its id, as submitted, with `maxAttempts` fresh attempts if
   * given, then removes the dead letter. Its record returns to `pending`, keeping its history.
   */
  async requeue(id: string, options: { maxAttempts?: number } = {}): Promise<DeadLetter> {
    const stored = await this.#find(id);
    // Not done by this call, and the letter still there: another requeue of it is under way, or the
    // record changed for another reason (a sweep). Either way the caller should try again.
    if (!(await this.#requeue(stored, checkedOptions(options))) && (await this.#newest(stored.subject))?.seq === stored.seq) {
      throw new ConflictError(`task ${id}: its record changed while it was being requeued (another requeue?); try again`);
    }
    return readLetter(stored);
  }

  /**
   * Requeues every dead letter (of one queue, if given), `PARALLEL` at once; resolves with how many.
   * Letters that cannot be requeued (a body left out, a task whose last run is unsettled) stay.
   */
  async requeueAll(options: { queue?: string; maxAttempts?: number } = {}): Promise<number> {
    const checked = checkedOptions(options);
    const letters = await this.#all(options.queue);
    let requeued = 0;
    await inLanes(letters.length, PARALLEL, async (i) => {
      // Read again just before: a letter requeued, purged or replaced since the listing is not ours to requeue.
      const current = await this.#newest(letters[i].subject);
      if (current?.seq !== letters[i].seq) return;
      const done = await this.#requeue(letters[i], checked).catch((err) => {
        if (err instanceof ValidationError || err instanceof ConflictError) return false;
        throw err;
      });
      if (done) requeued++;
    });
    return requeued;
  }

  /** Resolves false when another requeue of this letter is under way or stored its message first: that one finishes it. */
  async #requeue(stored: Stored, { maxAttempts }: { maxAttempts?: number }): Promise<boolean> {
    const letter = readLetter(stored);
    // From the letter's headers, which anyone can publish: it becomes a record key and a message id.
    parseInput(idSchema, letter.id, "task id");
    const parts = parseTaskSubject(letter.subject);
    if (!parts) throw new ValidationError(`dead letter ${letter.id} has no work subject to requeue to (${letter.subject})`);
    if (letter.body_omitted_bytes !== undefined) {
      throw new ValidationError(`dead letter ${letter.id} could not keep its ${letter.body_omitted_bytes}-byte body: resubmit the task instead`);
    }
    const headers = natsHeaders();
    // The same message id for every requeue of this letter, so that two at once store it once.
    headers.set(HEADER_ID, requeueMessageId(letter.id, stored.seq));
    headers.set(HEADER_TASK_ID, letter.id);
    for (const name of KEPT) {
      const value = stored.headers?.get(name);
      if (value) headers.set(name, value);
    }
    if (maxAttempts !== undefined) headers.set(HEADER_MAX_ATTEMPTS, String(maxAttempts));
    const given = Number(headers.get(HEADER_MAX_ATTEMPTS)) || undefined;
    const policy = resolvePolicy(this.edgeq.config, parts.queue, parts.type, { maxAttempts: given });
    const task = { id: letter.id, ...parts, data: letter.data };
    const pending = newRecord(task, { status: "pending", attempts: 0, max_attempts: policy.maxAttempts, created_at: new Date().toISOString(), history: letter.history });
    const queue = this.edgeq.queue(parts.queue);
    // `pending` before the message, as a submission does: a worker takes a `pending` record without
    // a sequence as its task's, history included.
    const before = await this.edgeq.tasks.read(letter.id);
    // Its last message still in the work stream: a run whose worker died before settling it (before
    // its `+TERM`, or before recording `dead`). Redelivered, that message would take our `pending`
    // record as its own and run beside the requeued one.
    if (before.record?.seq !== undefined && (await this.#inWorkStream(before.record.seq))) {
      throw new ConflictError(`task ${letter.id}: its last run is not settled yet; requeue it after the ack wait`);
    }
    const written = await this.edgeq.tasks.putIfUnchanged(pending, before.revision);
    // Refused: the record moved on since the read, as when another requeue of the letter wrote it
    // first. That one publishes; were this one to publish first, the other's would be the duplicate,
    // and its undo would set the record back to `dead` under a waiting message.
    if (written === null) return false;
    // Tells the worker a record was written for this message: it reads it rather than create one.
    headers.set(HEADER_RECORD_REVISION, String(written));
    // When this requeue stores no message, the record goes back to what it was.
    const undo = async () => {
      const back = before.record ? this.edgeq.tasks.putIfUnchanged(before.record, written) : this.edgeq.tasks.deleteIfUnchanged(letter.id, written);
      await back.catch(() => null);
    };
    const work = { id: letter.id, subject: letter.subject, body: stored.body, headers };
    const { seq, duplicate } = await queue.resubmit(work).catch(async (err) => {
      await undo();
      if (!(err instanceof UnavailableError)) throw err;
      // Not "resubmit": a requeue sent again has the same message id, so it is stored at most once.
      throw new UnavailableError(`NATS did not confirm the requeue of task ${letter.id}; its dead letter is kept: requeue it again`, { cause: err });
    });
    // A duplicate: this letter's message was stored already, by another requeue (which removes the
    // letter) or by one whose answer was lost (which left it). Still waiting, that message takes our
    // `pending` record as its own; settled, it has its own record, which we put back.
    if (duplicate && !(await this.#inWorkStream(seq))) await undo();
    // The letter has been requeued either way. (Gone already if the task died again meanwhile: its
    // new letter replaced this one.)
    await this.#delete(stored.seq);
    return !duplicate;
  }

  /** Whether the work stream still holds the message at `seq` (settled messages leave it). */
  async #inWorkStream(seq: number): Promise<boolean> {
    return (await this.edgeq.jsm.streams.getMessage(WORK_STREAM, { seq })) !== null;
  }

  /** Deletes one dead letter for good. */
  async purge(id: string): Promise<void> {
    const stored = await this.#find(id);
    if (!(await this.#delete(stored.seq))) throw new NotFoundError(`no dead letter for task ${id}`);
  }

  /** Deletes every dead letter (of one queue, if given); resolves with how many. */
  async purgeAll(options: { queue?: string } = {}): Promise<number> {
    if (!options.queue) return (await this.edgeq.jsm.streams.purge(DEAD_STREAM)).purged;
    const letters = await this.#all(options.queue);
    let purged = 0;
    await inLanes(letters.length, PARALLEL, async (i) => {
      if (await this.#delete(letters[i].seq)) purged++;
    });
    return purged;
  }

  /** Deletes one message; false if it was already gone (requeued, purged or replaced meanwhile). */
  #delete(seq: number): Promise<boolean> {
    return this.edgeq.jsm.streams.deleteMessage(DEAD_STREAM, seq, false).catch((err) => {
      if (err instanceof JetStreamApiError) return false;
      throw err;
    });
  }

  async count(): Promise<number> {
    return (await this.edgeq.jsm.streams.info(DEAD_STREAM)).state.messages;
  }

  async #all(queue: string | undefined): Promise<Stored[]> {
    const letters: Stored[] = [];
    await this.#scanner.scan(1, (d) => {
      const stored = storedOf(d);
      if (!queue || workSubject(stored).queue === queue) letters.push(stored);
      return true;
    });
    return letters;
  }

  async #find(id: string): Promise<Stored> {
    // Checked here, not only by the API: the id becomes a subject, where `>` would match another task's letter.
    parseInput(idSchema, id, "task id");
    const found = await this.#newest(deadSubject(id));
    if (!found) throw new NotFoundError(`no dead letter for task ${id}`);
    return found;
  }

  /** The letter now on `subject`; null if there is none. */
  async #newest(subject: string): Promise<Stored | null> {
    const found = await this.edgeq.jsm.streams.getMessage(DEAD_STREAM, { last_by_subj: subject });
    return found && { subject: found.subject, headers: found.header, body: found.data, seq: found.seq, storedAt: found.time.getTime() };
  }
}

/** A requeue's message id: new, since the duplicate window still holds the task id's first publish. */
export function requeueMessageId(id: string, letterSeq: number): string {
  return `${id}:requeue:${letterSeq}`;
}

/** Whether a work message is a requeued dead letter, by its message id. */
export function isRequeue(msg: Msg): boolean {
  return headersOf(msg)?.get(HEADER_ID).includes(":requeue:") ?? false;
}

/** The library's options are checked as the API's are: a bad `maxAttempts` would make a poison message. */
function checkedOptions<T extends { maxAttempts?: number }>(options: T): T {
  parseInput(maxAttemptsSchema.optional(), options.maxAttempts, "maxAttempts");
  return options;
}

function storedOf({ msg, streamSeq, storedAt }: Delivery): Stored {
  return { subject: msg.subject, headers: msg.headers, body: msg.data, seq: streamSeq, storedAt };
}

/** The work subject a letter came from, and its parts (null where it is not a work subject). */
function workSubject({ headers }: Stored): { subject: string; queue: string | null; type: string | null; priority: Priority | null } {
  const subject = headers?.get(HEADER_SUBJECT) ?? "";
  const parts = parseTaskSubject(subject);
  return { subject, queue: parts?.queue ?? null, type: parts?.type ?? null, priority: parts?.priority ?? null };
}

function readLetter(stored: Stored): DeadLetter {
  const { subject, headers, body, seq, storedAt } = stored;
  const kept: Record<string, string> = {};
  for (const name of KEPT) {
    const value = headers?.get(name);
    if (value) kept[name] = value;
  }
  const work = workSubject(stored);
  return {
    id: headers?.get(HEADER_TASK_ID) || subject.split(".").slice(1).join("."),
    type: work.type,
    queue: work.queue,
    priority: work.priority,
    subject: work.subject,
    ...readBody(body),
    ...(headers?.has(HEADER_BODY_OMITTED) && { body_omitted_bytes: Number(headers.get(HEADER_BODY_OMITTED)) }),
    reason: headers?.get(HEADER_REASON) ?? "",
    attempts: Number(headers?.get(HEADER_ATTEMPTS)) || 0,
    history: parseHistory(headers?.get(HEADER_HISTORY)),
    headers: kept,
    dead_at: new Date(storedAt).toISOString(),
    seq,
  };
}

function readBody(body: Uint8Array): { data: unknown; raw_base64?: string } {
  try {
    return { data: parseBody(body) };
  } catch (err) {
    if (!(err instanceof PoisonMessageError)) throw err;
    return { data: null, raw_base64: btoa(Array.from(body, (b) => String.fromCharCode(b)).join("")) };
  }
}

function parseHistory(json: string | undefined): Attempt[] {
  try {
    const value = JSON.parse(json ?? "[]");
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

/** Header values cannot hold line breaks. */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, " ");
}
