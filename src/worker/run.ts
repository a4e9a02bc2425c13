/**
 * One run of a task's handler: its state while it runs, and the outcome it ends with.
 *
 * A run knows the record revision its writes are conditional on: 0 (the record must not exist)
 * on a first delivery, which stores nothing before the handler starts; the revision of its
 * `running` write otherwise. So a run whose lease lapsed, and whose task another run took over,
 * cannot overwrite that run's record.
 */
import {
  type Attempt,
  endSpan,
  type IncomingTask,
  inSpan,
  MAX_HISTORY,
  newRecord,
  PermanentError,
  type RetryPolicy,
  startRun,
  type TaskRecord,
  TaskTimeoutError,
  withAttempt,
} from "../wire/mod.ts";
import type { Delivery } from "../nats/mod.ts";
import type { Span } from "@opentelemetry/api";
import type { Handlers, TaskContext } from "./options.ts";
import type { Progress } from "./progress.ts";
import type { TaskRecords } from "../tasks/mod.ts";
import { NO_PARENTS, type Parents } from "../flows/parents.ts";

export class Run {
  /** Known before the message is read, so that even an unreadable one is recorded under it. */
  readonly id: string;
  task?: IncomingTask;
  policy?: RetryPolicy;
  /** What the record says of this run: `running`, whether stored or not. */
  record?: TaskRecord;
  /** The revision the run's next write is conditional on; 0: the record must not exist yet. */
  revision = 0;
  /** Whether `running` is stored (long runs, and every run after the first delivery). */
  runningStored = false;
  /** Whether `running` was written or tried: it is written once. */
  runningAsked = false;
  /** A `running` write under way: the outcome waits for it, so that the two cannot cross. */
  writing?: Promise<void>;
  /** `performance.now()` at the handler's start. */
  startedMs = 0;
  /** ms from the handler's start to its return, once it returned (its events' `run_ms`). */
  runMs?: number;
  /** Made when the handler first reads its signal, or when the run is aborted: most runs need none. */
  abort?: AbortController;
  /** Set when the outcome write has begun: shutdown then waits for it rather than giving the task back. */
  finishing = false;
  /** Made when the handler first reports progress. */
  progress?: Progress;
  /** Set when the task was canceled while it ran: `canceled` is its outcome, whatever the handler did. */
  canceled = false;
  /** Set when shutdown gave the task back; the handler's late outcome is then ignored. */
  returned = false;
  /** The parents' outcomes, read before the handler starts when the task waited on some (src/flows/). */
  parents?: Parents;
  /** Set once its dependents are released (or being released): done once per run. */
  released = false;
  /** Set once the run no longer holds one of the worker's handler slots. */
  slotFreed = false;
  /** The run's span, when an OpenTelemetry SDK is registered (wire/tracing.ts). */
  span?: Span;
  #ended = false;
  #whenEnded?: { promise: Promise<void>; resolve: () => void };

  constructor(
    readonly delivery: Delivery,
    id: string,
    /** Set when the run's lease may have lapsed: JetStream may have handed the task to another worker. */
    public lapsed: boolean,
  ) {
    this.id = id;
  }

  /**
   * Sets what the run runs, as attempt `attempt`: `previous` is this message's record, if it has
   * one. The attempts between the previous record's and this one's ended without an outcome.
   */
  begin(task: IncomingTask, policy: RetryPolicy, previous: TaskRecord | null, workerId: string, attempt = 1): TaskRecord {
    const now = isoNow();
    // A run that never reported (its worker died or was cut off) is an attempt without an outcome.
    let history = previous?.status === "running" ? withAttempt(previous, attemptOf(previous, LOST)) : previous?.history ?? [];
    for (let n = (previous?.attempts ?? 0) + 1; n < attempt; n++) {
      history = [...history, { attempt: n, worker_id: null, started_at: null, finished_at: now, error: LOST }].slice(-MAX_HISTORY);
    }
    this.task = task;
    this.policy = policy;
    this.record = newRecord(task, {
      status: "running",
      attempts: attempt,
      ...(previous?.given_back && { given_back: previous.given_back }),
      max_attempts: policy.maxAttempts,
      worker_id: workerId,
      created_at: isoOf(this.delivery.storedAt),
      started_at: now,
      updated_at: now,
      seq: this.delivery.streamSeq,
      ...(task.delayedSeq !== undefined && { delayed_seq: task.delayedSeq }),
      ...(previous?.depends_on && { depends_on: previous.depends_on }),
      ...(previous?.flow && { flow: previous.flow }),
      error: previous?.error ?? null,
      history,
    });
    return this.record;
  }

  /** The data's JSON as the message carried it, for the record to hold as it is. */
  dataJson(): Uint8Array | undefined {
    return this.task?.bodyIsJson ? this.task.body : undefined;
  }

  /** Marks the run over: settled, handed back or given up on. */
  end(): void {
    this.#ended = true;
    this.#whenEnded?.resolve();
  }

  /** Resolves once the run is over; made only when asked (at shutdown): most runs need none. */
  done(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    if (!this.#whenEnded) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#whenEnded = { promise, resolve };
    }
    return this.#whenEnded.promise;
  }

  /**
   * Stores `record` (`running`, with any progress) at the run's revision, as `writing`, which the
   * outcome waits for. Resolves false when the record had moved on (the write was refused).
   */
  storeRunning(records: TaskRecords, record: TaskRecord, report: (err: unknown) => void): Promise<boolean> {
    const write = (async () => {
      try {
        const stored = await records.putIfUnchanged(record, this.revision, this.dataJson());
        if (stored === null) return false;
        this.revision = stored;
        this.runningStored = true;
      } catch (err) {
        report(err);
      } finally {
        this.writing = undefined;
      }
      return true;
    })();
    this.writing = write.then(() => {});
    return write;
  }

  abortWith(reason: Error): void {
    (this.abort ??= new AbortController()).abort(reason);
  }

  /**
   * Runs the handler; gives the outcome record: completed, failed, dead, or pending for a retry.
   * A handler that returns at once, and has no time-out, gives it at once, with no promise.
   */
  execute(handlers: Handlers, progressOf: (run: Run) => Progress): TaskRecord | Promise<TaskRecord> {
    const task = this.task!;
    const record = this.record!;
    const run = this;
    const ctx: TaskContext = {
      id: task.id,
      type: task.type,
      queue: task.queue,
      priority: task.priority,
      attempt: record.attempts,
      maxAttempts: record.max_attempts,
      workerId: record.worker_id!,
      get signal() {
        return (run.abort ??= new AbortController()).signal;
      },
      working: () => this.delivery.working(),
      progress: (value) => (run.progress ??= progressOf(run)).set(value),
      parents: (this.parents ?? NO_PARENTS).results,
      parentOutcomes: (this.parents ?? NO_PARENTS).outcomes,
    };
    this.startedMs = performance.now();
    let result: unknown;
    try {
      // The worker leaves the types it has no handler for to others.
      const handler = handlers[task.type];
      this.span = startRun(this.delivery.msg, task, record.attempts);
      result = this.span ? inSpan(this.span, () => this.#call(handler, ctx)) : this.#call(handler, ctx);
    } catch (err) {
      return this.#failed(err);
    }
    if (isThenable(result)) return Promise.resolve(result).then((value) => this.#completed(value), (err) => this.#failed(err));
    return this.#completed(result);
  }

  #call(handler: Handlers[string], ctx: TaskContext): unknown {
    const { data } = this.task!;
    return this.policy!.timeoutMs === null ? handler(data, ctx) : this.#withTimeout(() => handler(data, ctx));
  }

  #completed(result: unknown): TaskRecord {
    if (this.span) endSpan(this.span);
    const record = this.record!;
    return finished(record, "completed", { result: result ?? null, history: withAttempt(record, attemptOf(record, null)) });
  }

  #failed(err: unknown): TaskRecord {
    if (this.span) endSpan(this.span, err);
    const record = this.record!;
    const error = clip(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    const history = withAttempt(record, attemptOf(record, error));
    // By name too: a handler bundled with its own copy of edgeq throws a PermanentError of another class.
    const permanent = err instanceof PermanentError || (err as Error)?.name === "PermanentError";
    if (permanent) return finished(record, "failed", { error, history });
    if (record.attempts >= record.max_attempts) return finished(record, "dead", { error, history });
    return { ...record, status: "pending", error, history, worker_id: null, updated_at: isoNow() };
  }

  /** Runs `fn`; past the policy's time-out, aborts the signal and rejects with TaskTimeoutError. */
  async #withTimeout(fn: () => unknown): Promise<unknown> {
    const timeoutMs = this.policy!.timeoutMs!;
    const work = Promise.resolve().then(fn);
    work.catch(() => {}); // a late failure of an attempt that timed out has no one to report to
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new TaskTimeoutError(`attempt ran past its time-out of ${timeoutMs} ms`);
        this.abortWith(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/** `new Date(ms).toISOString()`, remembering the last millisecond: a busy worker stamps many records in one. */
function isoMemo(): (ms: number) => string {
  let last = NaN;
  let iso = "";
  return (ms) => {
    if (ms !== last) [last, iso] = [ms, new Date(ms).toISOString()];
    return iso;
  };
}
/** For message times. */
export const isoOf = isoMemo();
const nowIso = isoMemo();
export const isoNow = (): string => nowIso(Date.now());

/** What the history says of an attempt whose run stored no outcome. */
export const LOST = "ended without an outcome (the worker stopped or lost its connection)";

/** The history entry of the attempt `record` describes. */
export function attemptOf(record: TaskRecord, error: string | null): Attempt {
  return {
    attempt: record.attempts,
    worker_id: record.worker_id,
    started_at: record.started_at,
    finished_at: isoNow(),
    error,
  };
}

export function finished(record: TaskRecord, status: "completed" | "failed" | "dead" | "canceled", fields: Partial<TaskRecord>): TaskRecord {
  const now = isoNow();
  return { ...record, ...fields, status, finished_at: now, updated_at: now };
}

/** Errors are kept short enough that a long one cannot make its record too large to store. */
export function clip(error: string): string {
  return error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}… (${error.length} characters)` : error;
}
const MAX_ERROR_LENGTH = 4000;
