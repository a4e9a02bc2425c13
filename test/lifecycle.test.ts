/**
 * Property-based (fast-check): random sequences of submit, start, complete, fail, time out, cancel,
 * requeue and worker death, driven against a real nats-server and real workers whose handlers the
 * test controls, compared after every step with the reference model (test/helpers/task-model.ts).
 * Starts are the worker's: a free slot starts whatever is pending, so each run's starts (and a
 * timed task's time-outs) are observed and checked against the model rather than commanded.
 * Every run ends with all its tasks driven to an end and the invariant checker.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import fc from "fast-check";
import { afterAll, expect, test } from "vitest";
import { Edgeq } from "../src/client/client.ts";
import { ConflictError, PermanentError } from "../src/wire/errors.ts";
import type { TaskContext } from "../src/worker/options.ts";
import type { Worker } from "../src/worker/mod.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { useNats } from "./helpers/setup.ts";
import * as model from "./helpers/task-model.ts";

// Short, since a death waits it out; long enough that a loaded machine does not let a held lease lapse.
const ACK_WAIT_MS = 2000;
const env = useNats({ ackWaitMs: ACK_WAIT_MS });
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const done of cleanup) await done().catch(() => {});
});

type Command =
  | { kind: "submit"; maxAttempts: number; timed: boolean }
  | { kind: "complete" | "fail" | "failForGood" | "die" }
  | { kind: "cancel" | "requeue"; pick: number };

const commands = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("submit" as const), maxAttempts: fc.integer({ min: 1, max: 3 }), timed: fc.boolean() }) },
  { weight: 3, arbitrary: fc.constantFrom(...(["complete", "fail", "failForGood", "die"] as const)).map((kind) => ({ kind })) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom("cancel" as const, "requeue" as const), pick: fc.nat(20) }) },
);

interface Parked {
  id: string;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** One run: its own queue, a worker of one slot on its own connection, and the model beside them. */
class Run {
  readonly tasks = new Map<string, model.ModelTask>();
  readonly violations: string[] = [];
  parked: Parked | undefined;
  worker: { nc: NatsConnection; worker: Worker } | undefined;
  starts = 0;
  deaths = 0;
  requeues = 0;
  cancels = 0;
  /** The task whose requeue() has not returned yet, and how many starts came before it returned. */
  requeuing: string | undefined;
  earlyStarts = 0;

  constructor(readonly queue: string) {}

  async startWorker(): Promise<void> {
    const nc = await connect({ servers: env.server.url });
    const edgeq = await Edgeq.open(nc, { ackWaitMs: ACK_WAIT_MS });
    const worker = await edgeq.worker({ t: (data: { timed: boolean }, ctx: TaskContext) => this.#handle(data, ctx) }, {
      queues: [this.queue],
      concurrency: 1,
      prefetch: 0,
      onError: () => {},
    });
    this.worker = { nc, worker };
    cleanup.push(() => worker.stop(0), () => nc.close());
  }

  #handle(data: { timed: boolean }, ctx: TaskContext): Promise<unknown> {
    const task = this.tasks.get(ctx.id);
    // A cancel can cross a delivery already on its way: the run is aborted and its outcome refused.
    if (!task || task.status === "canceled") return Promise.resolve(null);
    const wrong = model.started(task, ctx.attempt);
    if (wrong) this.violations.push(wrong);
    this.starts++;
    if (ctx.id === this.requeuing) this.earlyStarts++;
    const aborted = new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true }));
    if (data.timed) {
      return aborted.catch((err) => {
        if (task.status === "running") model.failedAttempt(task);
        throw err;
      });
    }
    return new Promise((resolve, reject) => {
      this.parked = { id: ctx.id, resolve, reject };
      aborted.catch(reject);
    });
  }

  async apply(command: Command): Promise<void> {
    const list = [...this.tasks.values()];
    const parked = this.parked && this.tasks.get(this.parked.id);
    switch (command.kind) {
      case "submit": {
        // In the model before it is stored: the worker may start it before the submission returns.
        const id = crypto.randomUUID();
        this.tasks.set(id, model.submitted(id, command.maxAttempts, command.timed));
        await env.edgeq.queue(this.queue).submit("t", { timed: command.timed }, {
          id,
          maxAttempts: command.maxAttempts,
          backoff: "fixed:50",
          ...(command.timed && { timeoutMs: 300 }),
        });
        return;
      }
      case "complete":
      case "fail":
      case "failForGood": {
        if (!parked || parked.status !== "running") return;
        const { resolve, reject } = this.parked!;
        this.parked = undefined;
        if (command.kind === "complete") (model.completed(parked), resolve({ ok: true }));
        else if (command.kind === "fail") (model.failedAttempt(parked), reject(new Error("fails this time")));
        else (model.failedForGood(parked), reject(new PermanentError("fails for good")));
        return;
      }
      case "die": {
        // A crash as the server sees it: the connection goes, nothing is settled.
        this.parked = undefined;
        model.workerDied(list, parked?.status === "running" ? parked : undefined);
        this.deaths++;
        await this.worker!.nc.close();
        await this.startWorker();
        return;
      }
      case "cancel": {
        const task = list[command.pick % Math.max(1, list.length)];
        if (!task) return;
        const allowed = model.cancel(task);
        this.cancels++;
        if (this.parked?.id === task.id && allowed) this.parked = undefined;
        const answer = await env.edgeq.tasks.cancel(task.id).then(() => true, (err) => (err instanceof ConflictError ? false : Promise.reject(err)));
        if (answer !== allowed) this.violations.push(`${task.id}: cancel ${answer ? "accepted" : "refused"}, model says ${allowed ? "accept" : "refuse"}`);
        return;
      }
      case "requeue": {
        const dead = list.filter((t) => t.status === "dead");
        const task = dead[command.pick % Math.max(1, dead.length)];
        if (!task) return;
        // In the model before the call, as a submission is: requeue() stores the message, then
        // deletes the letter, and the worker may start the task in between. Taken after the call,
        // the model still said `dead` when such a start came: "started while dead" on a loaded machine.
        model.requeued(task);
        this.requeues++;
        this.requeuing = task.id;
        await env.edgeq.deadLetters.requeue(task.id);
        this.requeuing = undefined;
        return;
      }
    }
  }

  /** Waits until the worker holds a task or nothing is left to start, and every record agrees with the model. */
  async settle(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const list = [...this.tasks.values()];
      const quiet = this.parked !== undefined || !list.some((t) => t.status === "pending" || t.status === "running");
      const records = await Promise.all(list.map((t) => env.edgeq.tasks.get(t.id)));
      const diffs: string[] = [];
      list.forEach((t, i) => {
        const record = records[i];
        // Burial without a run: a death left its counted attempts (with slack) at the maximum.
        if (record?.status === "dead" && model.mayBeBuried(t) && record.attempts >= t.attempts && record.attempts <= t.attempts + t.slack) {
          t.status = "dead";
          t.attempts = record.attempts;
          t.slack = 0;
        }
        const diff = model.differs(t, record);
        if (diff) diffs.push(diff);
      });
      if (quiet && diffs.length === 0 && this.violations.length === 0) return;
      if (this.violations.length) break;
      last = diffs.join("; ");
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the system does not agree with the model: ${[...this.violations, last].join("; ")}`);
  }

  /** Ends the run: completes whatever the worker starts until every task has an outcome. */
  async finish(): Promise<void> {
    for (let i = 0; i < 50 && [...this.tasks.values()].some((t) => !model.isFinal(t.status)); i++) {
      if (this.parked) await this.apply({ kind: "complete" });
      await this.settle();
    }
  }
}

test("random task lifecycles against the reference model: stored records agree at every step, and every run ends within the invariants", async () => {
  const watch = await RecordWatch.start(env.edgeq);
  const totals = { runs: 0, commands: 0, tasks: 0, starts: 0, deaths: 0, requeues: 0, earlyStarts: 0, cancels: 0, outcomes: {} as Record<string, number> };
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(fc.array(commands, { minLength: 4, maxLength: 14 }), async (sequence) => {
      const run = new Run(`prop${totals.runs++}`);
      await run.startWorker();
      for (const command of sequence) {
        await run.apply(command);
        await run.settle();
      }
      await run.finish();
      const ids = [...run.tasks.keys()];
      const report = await checkInvariants(env.edgeq, ids, { logs: [watch], requeues: true, settleMs: 5000 });
      totals.commands += sequence.length;
      totals.tasks += ids.length;
      totals.starts += run.starts;
      totals.deaths += run.deaths;
      totals.requeues += run.requeues;
      totals.earlyStarts += run.earlyStarts;
      totals.cancels += run.cancels;
      for (const [status, n] of Object.entries(report.outcomes)) totals.outcomes[status] = (totals.outcomes[status] ?? 0) + n;
      await run.worker!.worker.stop(0);
    }),
    // Each run drives a real server: few runs, no long shrinking, a seed printed on failure to replay it.
    { numRuns: 15, endOnFailure: true },
  );
  console.log(`lifecycle: ${JSON.stringify(totals)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  expect(totals.tasks).toBeGreaterThan(0);
  await watch.stop();
}, 240_000);
