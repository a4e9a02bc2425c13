/**
 * The task message: what the API, the library and a plain `nats pub` put on a work subject, and
 * how a worker reads it back.
 *
 *   subject  edgeq.<queue>.<priority>.<type>
 *   headers  Nats-Msg-Id: <task id>        (optional; else the id is derived from the stream sequence)
 *            Edgeq-Max-Attempts: <n>       (optional; else the configured default)
 *   body     the task's data as JSON; a body that is not JSON is taken as a UTF-8 string
 */
import { headers as natsHeaders, type Msg, type MsgHdrs } from "@nats-io/nats-core";
import { z } from "zod";
import { parseInput } from "./config.ts";
import { PayloadTooLargeError, ValidationError } from "./errors.ts";
import {
  DEFAULT_PRIORITY,
  DEFAULT_QUEUE,
  HEADER_ID,
  HEADER_MAX_ATTEMPTS,
  ID_PATTERN,
  parseTaskSubject,
  PRIORITIES,
  type Priority,
  QUEUE_PATTERN,
  taskSubject,
  TYPE_MAX_LENGTH,
  TYPE_PATTERN,
} from "./names.ts";

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
export const maxAttemptsSchema = z
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(1000, "must be at most 1000");

/** Options of one submission, as the library takes them. */
export const submitOptionsSchema = z.strictObject({
  priority: prioritySchema.optional(),
  queue: queueSchema.optional(),
  /** A caller-chosen id; a second submission with the same id inside the duplicate window is dropped. */
  id: idSchema.optional(),
  maxAttempts: maxAttemptsSchema.optional(),
});
export type SubmitOptions = z.input<typeof submitOptionsSchema>;

/** A task ready to publish. */
export interface OutgoingTask {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  data: unknown;
  maxAttempts?: number;
  subject: string;
  headers: MsgHdrs;
  body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Validates a submission and builds its message; `maxBytes` is the largest body the server takes. */
export function encodeTask(type: unknown, data: unknown, options: unknown, maxBytes: number): OutgoingTask {
  const validType = parseInput(typeSchema, type, "task type");
  const opts = parseInput(submitOptionsSchema, options ?? {}, "submit options");
  const body = encoder.encode(toJson(data));
  if (body.length > maxBytes) {
    throw new PayloadTooLargeError(`task data is ${body.length} bytes; the limit is ${maxBytes}`);
  }
  const id = opts.id ?? crypto.randomUUID();
  const queue = opts.queue ?? DEFAULT_QUEUE;
  const priority = opts.priority ?? DEFAULT_PRIORITY;
  const headers = natsHeaders();
  headers.set(HEADER_ID, id);
  if (opts.maxAttempts !== undefined) headers.set(HEADER_MAX_ATTEMPTS, String(opts.maxAttempts));
  return {
    id,
    type: validType,
    queue,
    priority,
    data: data ?? null,
    maxAttempts: opts.maxAttempts,
    subject: taskSubject(queue, priority, validType),
    headers,
    body,
  };
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
  /** Attempts allowed; null when the message does not say (the worker applies the configured default). */
  maxAttempts: number | null;
}

/** Reads a delivered work message; `streamSeq` names tasks published without a usable Nats-Msg-Id. */
export function decodeTask(msg: Msg, streamSeq: number): IncomingTask {
  const parts = parseTaskSubject(msg.subject);
  if (!parts) throw new ValidationError(`not a work subject: ${msg.subject}`);
  const headerId = msg.headers?.get(HEADER_ID) ?? "";
  const rawAttempts = Number(msg.headers?.get(HEADER_MAX_ATTEMPTS) || NaN);
  return {
    ...parts,
    id: ID_PATTERN.test(headerId) ? headerId : `seq-${streamSeq}`,
    data: parseBody(msg.data),
    maxAttempts: maxAttemptsSchema.safeParse(rawAttempts).success ? rawAttempts : null,
  };
}

function parseBody(body: Uint8Array): unknown {
  if (body.length === 0) return null;
  const text = decoder.decode(body);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
