import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

/**
 * The errors edgeq raises. Each has a literal `name` (safe under minification) and an HTTP status
 * so that the API maps them in one place.
 */
export class EdgeqError extends Error {
  override name = "EdgeqError";
  readonly status: number = 500;
}

/** An input (HTTP body, query, library argument, option) is not what edgeq accepts. */
export class ValidationError extends EdgeqError {
  override name = "ValidationError";
  override readonly status = 400;
}

/** A task, or its payload, is larger than the configured or server limit. */
export class PayloadTooLargeError extends EdgeqError {
  override name = "PayloadTooLargeError";
  override readonly status = 413;
}

/** No task has this id (or its record has expired). */
export class NotFoundError extends EdgeqError {
  override name = "NotFoundError";
  override readonly status = 404;
}

/** NATS cannot be reached or did not answer; the message says whether anything may have been accepted. */
export class UnavailableError extends EdgeqError {
  override name = "UnavailableError";
  override readonly status = 503;

  constructor(
    message: string,
    options?: ErrorOptions & {
      /** The id of the task concerned, so that a caller can resubmit it under the same id. */
      taskId?: string;
    },
  ) {
    super(message, options);
    this.taskId = options?.taskId;
  }

  readonly taskId?: string;
}

/**
 * The request conflicts with what is going on: a requeue while another requeue of the letter is
 * under way, or while the task's last run is unsettled. Retry later.
 */
export class ConflictError extends EdgeqError {
  override name = "ConflictError";
  override readonly status = 409;
}

/** The task was canceled: the reason a canceled handler's `ctx.signal` aborts with. */
export class CanceledError extends EdgeqError {
  override name = "CanceledError";
  override readonly status = 409;
}

/** The queue holds its maximum number of tasks; nothing was accepted. Retry later. */
export class QueueFullError extends EdgeqError {
  override name = "QueueFullError";
  override readonly status = 429;
}

/**
 * JetStream's storage is full: the work stream at its `max_bytes`, or the server's store at its
 * limit ("insufficient resources"). Nothing was accepted; retry once space is freed (workers
 * draining the queue free it).
 */
export class StorageFullError extends EdgeqError {
  override name = "StorageFullError";
  override readonly status = 507;
}

/**
 * Thrown by a handler to fail its task at once, without the remaining attempts: retrying would not
 * help (bad input, a refused payment).
 */
export class PermanentError extends EdgeqError {
  override name = "PermanentError";
}

/** An attempt ran past the task's time-out; it counts as a failed attempt. */
export class TaskTimeoutError extends EdgeqError {
  override name = "TaskTimeoutError";
}

/** A request to the API carried no bearer token, or one that is not configured. */
export class UnauthorizedError extends EdgeqError {
  override name = "UnauthorizedError";
  override readonly status = 401;
}

/** The request's token is valid but lacks the scope the route needs. */
export class ForbiddenError extends EdgeqError {
  override name = "ForbiddenError";
  override readonly status = 403;
}

/** The caller has used up its rate limit; it may try again after `retryAfterSeconds`. */
export class RateLimitedError extends EdgeqError {
  override name = "RateLimitedError";
  override readonly status = 429;

  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A work message no worker can read; it goes to the dead-letter stream with this as its reason. */
export class PoisonMessageError extends EdgeqError {
  override name = "PoisonMessageError";
}

/**
 * Maps what the NATS client throws to edgeq's errors: a connection that is down, closed or not
 * answering in time becomes UnavailableError; storage at its limit, StorageFullError; a work stream
 * at its other limits, QueueFullError; edgeq's
 * own errors pass through; anything else is returned as is (a bug or an unexpected server answer).
 */
export function fromNatsError(err: unknown, taskId?: string): unknown {
  if (err instanceof EdgeqError) return err;
  const name = (err as Error)?.name;
  if (name === "TimeoutError") {
    // The message may have been stored and only its answer lost.
    const message = `NATS did not confirm in time; the task may have been stored: resubmit it with the same id${
      taskId ? ` (${taskId})` : ""
    }`;
    return new UnavailableError(message, { cause: err, taskId });
  }
  const storeFailed = err instanceof JetStreamApiError && err.code === STREAM_STORE_FAILED;
  if (err instanceof JetStreamApiError && (err.code === INSUFFICIENT_RESOURCES || (storeFailed && /^maximum bytes exceeded/.test(err.message)))) {
    return new StorageFullError(`storage is full (${err.message}); nothing was accepted, retry once space is freed`, { cause: err });
  }
  if (storeFailed && /^maximum .* exceeded/.test(err.message)) {
    return new QueueFullError(`the work stream is full (${err.message}); nothing was accepted, retry later`, { cause: err });
  }
  if (UNAVAILABLE.has(name)) return new UnavailableError("NATS is unreachable; nothing was accepted, retry later", { cause: err });
  return err;
}

/** Whether JetStream answered that the stream or consumer does not exist. */
export function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && NOT_FOUND.has(err.code);
}
const NOT_FOUND = new Set<number>([JetStreamApiCodes.StreamNotFound, JetStreamApiCodes.ConsumerNotFound]);

/** JetStream's "store failed" code, which also reports a stream's own limits refusing a message. */
const STREAM_STORE_FAILED = 10077;
/** JetStream's "insufficient resources": the server's or account's store is at its limit. */
const INSUFFICIENT_RESOURCES = 10023;

const UNAVAILABLE = new Set([
  "ClosedConnectionError",
  "DrainingConnectionError",
  "ConnectionError",
  "NoResponders", // nats.js's NoRespondersError
  "RequestError",
  "JetStreamNotEnabled",
]);
