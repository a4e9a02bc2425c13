/**
 * The task message: what the API, the library and a plain `nats pub` put on a work subject, and
 * how a worker reads it back.
 *
 *   subject  edgeq.<queue>.<priority>.<type>, or edgeq.<queue>.<priority>.=<task id>.<type>
 *            (edgeq's submitters' form: the id token lets a pending task be found by its id)
 *   headers  Nats-Msg-Id: <task id>        (optional; else the id is derived from the stream sequence)
 *            Edgeq-Task-Id: <task id>      (optional; takes precedence over Nats-Msg-Id)
 *            Edgeq-Max-Attempts: <n>       (optional; each of these three defaults as retry.ts says)
 *            Edgeq-Backoff: <spec>
 *            Edgeq-Timeout-Ms: <n>
 *            Edgeq-Record-Revision: <n>  (set by a requeue: its `pending` record's revision; ignored when not a number)
 *            Edgeq-Delayed-Seq: <n>      (set by the scheduler on a promoted delayed task)
 *            Edgeq-Has-Dependents: 1     (set on a released task others wait on: src/flows/)
 *            traceparent, tracestate     (optional; the W3C trace context of the submission, tracing.ts)
 *            Edgeq-Key: <key>            (optional; a tenant or user the `keys` limits apply to, src/limits/)
 *   body     the task's data as JSON; a body that is not JSON is taken as a UTF-8 string
 *
 * A delayed task waits on `edgeq_delayed.<due slot>` with the same headers, `Edgeq-Subject: <its work
 * subject>` and `Edgeq-Run-At: <due time, ms since the epoch>` (src/delayed/).
 *
 * A message no worker can read (a body that is not UTF-8, an edgeq header with a bad value) is a
 * poison message: decodeTask throws PoisonMessageError and the worker dead-letters it.
 */
import type { Msg, MsgHdrs } from "@nats-io/nats-core";
import { EncodedHeaders, headerLines } from "./encoded-headers.ts";
import type { SubmitTrace } from "./tracing.ts";
import { z } from "zod";
import { PayloadTooLargeError, PoisonMessageError, ValidationError } from "./errors.ts";
import {
  delaySlotOf,
  delayedSubject,
  HEADER_BACKOFF,
  HEADER_DELAYED_SEQ,
  HEADER_HAS_DEPENDENTS,
  HEADER_ID,
  HEADER_KEY,
  HEADER_MAX_ATTEMPTS,
  HEADER_RECORD_REVISION,
  HEADER_RUN_AT,
  HEADER_SUBJECT,
  HEADER_TASK_ID,
  HEADER_TIMEOUT,
  ID_PATTERN,
  parseTaskSubject,
  POLICY_HEADERS,
  PRIORITIES,
  type Priority,
  QUEUE_PATTERN,
  taskSubject,
  TYPE_MAX_LENGTH,
  TYPE_PATTERN,
} from "./names.ts";
import { KEY_PATTERN, taskKeySchema } from "../limits/limit.ts";
import { backoffSchema, maxAttemptsSchema, type RetryPolicy, timeoutSchema } from "./retry.ts";

/** zod's message for a wrong type, saying "is required" when the field is missing. */
export const expected = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? "is required" : `must be ${what}`;

export const typeSchema = z
  .string({ error: expected("a string") })
  .min(1, "must not be empty")
  .max(TYPE_MAX_LENGTH, `must be at most ${TYPE_MAX_LENGTH} characters`)
  .regex(TYPE_PATTERN, "must be words of letters, digits, '_' or '-', joined by single dots");
export const queueSchema = z
  .string({ error: "must be a string" })
  .regex(QUEUE_PATTERN, "must be 1-64 letters, digits, '_' or '-'");
export const prioritySchema = z.enum(PRIORITIES, { error: `must be one of ${PRIORITIES.join(", ")}` });
export const idSchema = z
  .string({ error: "must be a string" })
  .regex(ID_PATTERN, "must be 1-128 letters, digits, '_', '-' or '='");
export const idempotencyKeySchema = z
  .string({ error: "must be a string" })
  .min(1, "must not be empty")
  .max(256, "must be at most 256 characters");

/** A delay, at most a year. */
export const delayMsSchema = z.number({ error: "must be a number" }).int("must be a whole number").min(0, "must be at least 0").max(365 * 86_400_000, "must be at most a year");
/** A due time as an ISO 8601 string with a time zone (`2026-12-24T18:00:00Z`). */
export const runAtSchema = z.iso.datetime({ offset: true, error: "must be an ISO 8601 time with a zone, such as 2026-12-24T18:00:00Z" });

/** The due time the options ask for, in ms since the epoch; undefined for a task to run now. */
export function runAtOf(options: { delayMs?: number; runAt?: Date | string | number }, now = Date.now()): number | undefined {
  const at = options.delayMs !== undefined ? now + options.delayMs : options.runAt === undefined ? undefined : new Date(options.runAt).getTime();
  return at !== undefined && at > now ? at : undefined;
}

/** Parents one task may wait on. */
export const MAX_PARENTS = 1000;
/** The tasks a task runs after. */
export const dependsOnSchema = z.array(idSchema, { error: "must be an array of task ids" })
  .min(1, "must name at least one task")
  .max(MAX_PARENTS, `must name at most ${MAX_PARENTS} tasks`);

/** Options of one submission, as the library takes them. */
export const submitOptionsSchema = z.strictObject({
  priority: prioritySchema.optional(),
  /** A caller-chosen id; a second submission with the same id inside the duplicate window is dropped. */
  id: idSchema.optional(),
  /** Any string; the task id is derived from it, so a repeated submission gets the first one's id. */
  idempotencyKey: idempotencyKeySchema.optional(),
  maxAttempts: maxAttemptsSchema.optional(),
  backoff: backoffSchema.optional(),
  timeoutMs: timeoutSchema.optional(),
  /** When the queue is full, how long to wait for room before refusing; 0 refuses at once. */
  waitMs: z.number().int().min(0).max(3600_000).optional(),
  /** Run no sooner than this many ms from now. */
  delayMs: delayMsSchema.optional(),
  /** Run no sooner than this time: a Date, an ISO 8601 string or ms since the epoch. */
  runAt: z.union([z.date(), runAtSchema, z.number().int().min(0)], { error: "must be a Date, an ISO 8601 time or ms since the epoch" }).optional(),
  /** Run only after these tasks have completed (src/flows/); their results are `ctx.parents`. */
  dependsOn: dependsOnSchema.optional(),
  /** With `dependsOn`: run even when a parent fails, dies or is canceled, instead of failing with `dependency_failed`. */
  runAnyway: z.boolean({ error: "must be true or false" }).optional(),
  /** A tenant or user: the `keys` limits apply per distinct key. */
  key: taskKeySchema.optional(),
})
  .refine((o) => !(o.id && o.idempotencyKey), "give either id or idempotencyKey, not both")
  .refine((o) => !(o.delayMs !== undefined && o.runAt !== undefined), "give either delayMs or runAt, not both")
  .refine((o) => !(o.dependsOn && (o.delayMs !== undefined || o.runAt !== undefined)), "a task with dependsOn cannot be delayed")
  .refine((o) => !(o.runAnyway !== undefined && !o.dependsOn), "runAnyway needs dependsOn");
export type SubmitOptions = z.input<typeof submitOptionsSchema>;

/** A task ready to publish. */
export interface OutgoingTask {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  data: unknown;
  policy: RetryPolicy;
  subject: string;
  headers: MsgHdrs;
  body: Uint8Array;
  /** A delayed task's due time; its subject is then in the delayed stream. */
  runAtMs?: number;
  /** The submission's span, when an OpenTelemetry SDK is registered (tracing.ts). */
  trace?: SubmitTrace;
}

const encoder = new TextEncoder();

/** What encodeTask needs besides the type and data: all of it already validated and resolved. */
export interface TaskAddress {
  id: string;
  queue: string;
  priority: Priority;
  policy: RetryPolicy;
  /** When the task is due, if it is delayed. */
  runAtMs?: number;
  /** More headers, as `headerLines` makes them (a released dependent's). */
  extraLines?: string;
  /** The trace context's header lines, when the submission is traced. */
  traceLines?: string;
  /** The task's key, for the `keys` limits. */
  key?: string;
}

/** Builds a task's message; `maxBytes` is the largest body the server takes. */
export function encodeTask(type: string, data: unknown, address: TaskAddress, maxBytes: number): OutgoingTask {
  const body = encoder.encode(toJson(data));
  if (body.length > maxBytes) {
    throw new PayloadTooLargeError(`task data is ${body.length} bytes; the limit is ${maxBytes}`);
  }
  const { id, queue, priority, policy, runAtMs, key } = address;
  // The id is checked by ID_PATTERN before it gets here (the key by KEY_PATTERN); the policy's lines are made once per policy.
  const keyLine = key === undefined ? "" : `\r\n${HEADER_KEY}: ${key}`;
  const lines = `\r\n${HEADER_ID}: ${id}${policyLines(policy)}${keyLine}${address.extraLines ?? ""}${address.traceLines ?? ""}`;
  const subject = taskSubject(queue, priority, type, id);
  if (runAtMs === undefined) return { id, type, queue, priority, data: data ?? null, policy, subject, headers: new EncodedHeaders(lines), body };
  const headers = new EncodedHeaders(`${lines}\r\n${HEADER_SUBJECT}: ${subject}\r\n${HEADER_RUN_AT}: ${runAtMs}`);
  return { id, type, queue, priority, data: data ?? null, policy, subject: delayedSubject(delaySlotOf(runAtMs)), headers, body, runAtMs };
}

/** The header lines of a retry policy, made once for each policy a process sends. */
function policyLines(policy: RetryPolicy): string {
  const key = `${policy.maxAttempts}|${policy.backoff}|${policy.timeoutMs}`;
  let lines = knownPolicyLines.get(key);
  if (lines === undefined) {
    const pairs: [string, string][] = [[HEADER_MAX_ATTEMPTS, String(policy.maxAttempts)], [HEADER_BACKOFF, policy.backoff]];
    if (policy.timeoutMs !== null) pairs.push([HEADER_TIMEOUT, String(policy.timeoutMs)]);
    if (knownPolicyLines.size >= 1000) knownPolicyLines.clear();
    knownPolicyLines.set(key, lines = headerLines(pairs));
  }
  return lines;
}
const knownPolicyLines = new Map<string, string>();

/** The task id for an idempotency key: the same key always gives the same id. */
export async function idForKey(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(key)));
  return `key-${btoa(String.fromCharCode(...digest)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "")}`;
}

function toJson(data: unknown): string {
  try {
    return JSON.stringify(data) ?? "null";
  } catch (err) {
    throw new ValidationError(`task data is not serializable as JSON: ${(err as Error).message}`);
  }
}

/** A task as a worker sees it. */
export interface IncomingTask {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  data: unknown;
  /** What the message says of its policy; the worker fills in the rest from its defaults. */
  policy: Partial<RetryPolicy>;
  /** The revision of the `pending` record a requeue wrote, if it says one. */
  recordRevision: number | null;
  /** A promoted delayed task's sequence in the delayed stream. */
  delayedSeq: number | undefined;
  /** Others wait on it: its outcome releases them (src/flows/). */
  hasDependents: boolean;
  /** Its key, for the `keys` limits. */
  key: string | undefined;
  /** The message body, and whether it is the data's JSON (so a record can hold it as it is). */
  body: Uint8Array;
  bodyIsJson: boolean;
}

/** Reads a delivered work message whose id `taskId` gave; `parts`, its subject's, when known already. */
export function decodeTask(msg: Msg, id: string, parts = parseTaskSubject(msg.subject)): IncomingTask {
  if (!parts) throw new PoisonMessageError(`not a work subject: ${msg.subject}`);
  let headers: MsgHdrs | undefined;
  try {
    headers = msg.headers;
  } catch (err) {
    throw new PoisonMessageError(`its headers cannot be read: ${(err as Error).message}`);
  }
  const revision = Number(headers?.get(HEADER_RECORD_REVISION) || NaN);
  const hasRevision = Number.isSafeInteger(revision) && revision > 0;
  const delayedSeq = Number(headers?.get(HEADER_DELAYED_SEQ) || NaN);
  const key = headers?.get(HEADER_KEY) || undefined;
  if (key !== undefined && !KEY_PATTERN.test(key)) throw new PoisonMessageError(`bad ${HEADER_KEY}: "${key.slice(0, 200)}"`);
  const { data, json } = readBody(msg.data);
  return {
    queue: parts.queue,
    priority: parts.priority,
    type: parts.type,
    id,
    data,
    body: msg.data,
    bodyIsJson: json,
    policy: readPolicy(headers),
    recordRevision: hasRevision ? revision : null,
    delayedSeq: Number.isSafeInteger(delayedSeq) && delayedSeq > 0 ? delayedSeq : undefined,
    // Set only by a release (src/flows/), which always sends a record revision: plain tasks skip the look-up.
    hasDependents: hasRevision && headers?.get(HEADER_HAS_DEPENDENTS) === "1",
    key,
  };
}

/**
 * The message's headers; undefined when there are none, or when nats.js cannot read them (a name
 * with a space, which other clients let through).
 */
export function headersOf(msg: Msg): MsgHdrs | undefined {
  try {
    return msg.headers;
  } catch {
    return undefined;
  }
}

/** The task id of a work message, whether or not the rest of it can be read. */
export function taskId(msg: Msg, streamSeq: number): string {
  return taskIdOf(msg.subject, headersOf(msg), streamSeq);
}

/** The task id from a work message's parts: its subject's id token, its headers, or its sequence. */
export function taskIdOf(subject: string, headers: MsgHdrs | undefined, streamSeq: number): string {
  const fromSubject = parseTaskSubject(subject)?.id;
  if (fromSubject) return fromSubject;
  const id = [headers?.get(HEADER_TASK_ID), headers?.get(HEADER_ID)].find((v) => v && ID_PATTERN.test(v));
  return id ?? `seq-${streamSeq}`;
}

function readPolicy(headers: MsgHdrs | undefined): Partial<RetryPolicy> {
  const raw = POLICY_HEADERS.map((name) => headers?.get(name) ?? "");
  // Tasks from one submitter carry the same few policies: each is validated once, not per message.
  const key = raw.join("\n");
  let policy = knownPolicies.get(key);
  if (!policy) {
    policy = {
      maxAttempts: readHeader(HEADER_MAX_ATTEMPTS, raw[0], maxAttemptsSchema, Number),
      backoff: readHeader(HEADER_BACKOFF, raw[1], backoffSchema, String),
      timeoutMs: readHeader(HEADER_TIMEOUT, raw[2], timeoutSchema, Number),
    };
    if (knownPolicies.size >= 1000) knownPolicies.clear();
    knownPolicies.set(key, policy);
  }
  return policy;
}
const knownPolicies = new Map<string, Partial<RetryPolicy>>();

function readHeader<T>(name: string, raw: string, schema: z.ZodType<T>, from: (raw: string) => unknown): T | undefined {
  if (!raw) return undefined;
  const parsed = schema.safeParse(from(raw));
  if (!parsed.success) throw new PoisonMessageError(`header ${name} is "${raw.slice(0, 100)}": ${parsed.error.issues[0].message}`);
  return parsed.data;
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** A body's data: JSON, else UTF-8 text, else PoisonMessageError. */
export function parseBody(body: Uint8Array): unknown {
  return readBody(body).data;
}

/** A body's data, and whether the body was its JSON. */
function readBody(body: Uint8Array): { data: unknown; json: boolean } {
  if (body.length === 0) return { data: null, json: false };
  let text: string;
  try {
    text = strictDecoder.decode(body);
  } catch {
    throw new PoisonMessageError(`the body (${body.length} bytes) is neither JSON nor UTF-8 text`);
  }
  try {
    return { data: JSON.parse(text), json: true };
  } catch {
    return { data: text, json: false };
  }
}
