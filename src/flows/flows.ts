/**
 * Submitting tasks that wait on others: one task with `dependsOn`, a batch, or a whole flow. Each
 * is accepted atomically, although JetStream 2.9 has no batch publish, by a gate (`f.<flow id>` in
 * `edgeq_flows`) that the flow's first tasks wait on. In order:
 *
 * 1. the graph is checked whole (ids, types, data, cycles, parents outside the flow exist);
 * 2. the gate is created, uncommitted;
 * 3. every task's record is created `waiting` (with its data and policy, and `waiting_on`: its
 *    parents, and the gate for those with no parent in the flow);
 * 4. each parent's link lists its children (`t.<id>`; one outside the flow is marked for the sweep);
 * 5. the gate is committed: this one write accepts the flow;
 * 6. the gate is released (release.ts): its tasks' work messages are published; then parents
 *    outside the flow that have ended already are released.
 *
 * A crash before 5 leaves records that wait on a gate never committed: they never run. After 5 the
 * flow is accepted, and the scheduler's sweep (sweeper.ts) finishes 6 if the submitter did not.
 * Nothing is written to a plain task's path: only tasks that wait, and their parents' links, are stored.
 */
import type { Edgeq, Submitted, TaskSpec } from "../client/mod.ts";
import {
  ConflictError,
  dependentsKey,
  FINAL_STATUSES,
  flowGateKey,
  idForKey,
  newRecord,
  type OutgoingTask,
  submitContext,
  type TaskRecord,
  traced,
  ValidationError,
} from "../wire/mod.ts";
import { inLanes } from "../nats/mod.ts";
import type { Context } from "@opentelemetry/api";
import { type FlowInput, type PlannedFlow, type PlannedNode, planFlow } from "./graph.ts";
import { Links } from "./links.ts";
import { gateRef, Releaser } from "./release.ts";

/** Reads and writes of a flow under way at once. */
const WIDTH = 256;

export interface FlowSubmitted {
  id: string;
  /** The flow's tasks in dependency order. */
  tasks: Submitted[];
  /** True when this flow id was committed before: nothing new was stored. */
  duplicate: boolean;
}

export class Flows {
  readonly links: Links;
  readonly releaser: Releaser;

  constructor(private readonly edgeq: Edgeq) {
    this.links = new Links(edgeq.buckets.flows);
    this.releaser = new Releaser(edgeq, this.links);
  }

  /** Releases what waits on a task that has its final outcome (the worker's settle, a cancel). */
  released(record: TaskRecord): Promise<void> {
    return this.releaser.released(record);
  }

  /** Submits a flow (graph.ts says what it takes); resolves once it is committed. */
  submit(input: FlowInput): Promise<FlowSubmitted> {
    return this.#submit(planFlow(input));
  }

  /**
   * Submits tasks of one queue, some with `dependsOn` (on each other or on tasks submitted before),
   * as one flow; resolves in input order. `single`: the flow is named after its one task, so a
   * repeat of the submission is one too.
   */
  async submitTasks(queue: string, specs: (TaskSpec & { queue?: string })[], single = false): Promise<Submitted[]> {
    const nodes = await Promise.all(specs.map(async (spec, i) => {
      const { type, data, id, idempotencyKey, delayMs, runAt, waitMs: _, queue: own, ...options } = (spec ?? {}) as TaskSpec & { waitMs?: number; queue?: string };
      if (delayMs !== undefined || runAt !== undefined) throw new ValidationError(`task ${i}: a task submitted with dependsOn cannot be delayed`);
      if (id !== undefined && idempotencyKey !== undefined) throw new ValidationError(`task ${i}: give either id or idempotencyKey, not both`);
      return { ...options, type, data, queue: own ?? queue, id: id ?? (idempotencyKey !== undefined ? await idForKey(idempotencyKey) : crypto.randomUUID()) };
    }));
    const plan = planFlow({ nodes, ...(single && { id: nodes[0].id }) });
    const { tasks } = await this.#submit(plan);
    const byId = new Map(tasks.map((t) => [t.id, t]));
    return nodes.map((n) => byId.get(n.id)!);
  }

  /** A traced submission's flow is a submit span per task, each the parent of its run's span. */
  #submit(plan: PlannedFlow): Promise<FlowSubmitted> {
    const parent = submitContext();
    const encoded: OutgoingTask[] = [];
    const submit = () => this.#store(plan, encoded, parent);
    return parent ? traced(() => encoded.map((t) => t.trace), submit) : submit();
  }

  async #store(plan: PlannedFlow, encoded: OutgoingTask[], parent: Context | undefined): Promise<FlowSubmitted> {
    this.edgeq.assertConnected();
    for (const node of plan.nodes) encoded.push(this.#encode(node, parent));
    await this.#checkParents(plan);
    const gateKey = flowGateKey(plan.id);
    const roots = plan.nodes.filter((n) => n.parents.length === 0).map((n) => n.id);
    const gate = await this.links.get(gateKey);
    if (gate?.link.committed) {
      // Committed before (a client's retry): finished in case the first submitter was not.
      await this.releaser.releaseGate(plan.id);
      return { id: plan.id, tasks: plan.nodes.map((_, i) => submitted(encoded[i], true)), duplicate: true };
    }
    const gateRevision = await this.links.put(gateKey, { children: roots, committed: false }, gate?.revision ?? 0);
    if (gateRevision === null) throw new ConflictError(`flow ${plan.id} is being submitted by another request; try again`);
    const now = new Date().toISOString();
    const repeats = new Set<string>();
    const created = new Map<string, number>();
    const external = new Map<string, string[]>();
    for (const node of plan.nodes) for (const p of node.external) external.set(p, [...external.get(p) ?? [], node.id]);
    const outside = [...external];
    try {
      await inLanes(plan.nodes.length, WIDTH, async (i) => {
        const revision = await this.#storeWaiting(plan, plan.nodes[i], encoded[i], now);
        if (revision === null) repeats.add(plan.nodes[i].id);
        else created.set(plan.nodes[i].id, revision);
      });
      const parents = plan.nodes.filter((n) => n.children.length > 0);
      await inLanes(parents.length, WIDTH, async (i) => void await this.links.add(dependentsKey(parents[i].id), parents[i].children, false));
      await inLanes(outside.length, WIDTH, async (i) => void await this.links.add(dependentsKey(outside[i][0]), outside[i][1], true));
      // The one write that accepts the flow.
      if ((await this.links.put(gateKey, { children: roots, committed: true }, gateRevision)) === null) {
        throw new ConflictError(`flow ${plan.id} is being submitted by another request; try again`);
      }
    } catch (err) {
      await this.#undo(gateKey, created);
      throw err;
    }
    await this.releaser.releaseGate(plan.id);
    // A parent outside the flow that ended before its link was stored has released nothing: released now.
    await inLanes(outside.length, WIDTH, async (i) => {
      const parent = await this.edgeq.tasks.get(outside[i][0]);
      if (parent && FINAL_STATUSES.includes(parent.status)) await this.releaser.released(parent);
    });
    return { id: plan.id, tasks: plan.nodes.map((n, i) => submitted(encoded[i], repeats.has(n.id))), duplicate: repeats.size === plan.nodes.length };
  }

  /**
   * Removes what a flow that was not accepted wrote, unless its gate turns out committed (a commit
   * that went unanswered yet landed): its records, then its gate. Links to records gone are
   * removed by the release that finds them missing. Best effort: what stays waits on a gate never
   * committed, and never runs.
   */
  async #undo(gateKey: string, created: Map<string, number>): Promise<void> {
    const gate = await this.links.get(gateKey).catch(() => null);
    if (!gate || gate.link.committed) return;
    const records = [...created];
    await inLanes(records.length, WIDTH, (i) => this.edgeq.tasks.deleteIfUnchanged(records[i][0], records[i][1]).then(() => {}, () => {}));
    await this.links.remove(gateKey, gate.revision).catch(() => {});
  }

  /** Validates a node as a submission: its type, data, options and policy. */
  #encode(node: PlannedNode, parent: Context | undefined): OutgoingTask {
    const { id, priority, maxAttempts, backoff, timeoutMs, key } = node;
    try {
      return this.edgeq.queue(node.queue).encode(node.type, node.data, { id, priority, maxAttempts, backoff, timeoutMs, key }, parent) as OutgoingTask;
    } catch (err) {
      if (err instanceof Error) err.message = `node ${id}: ${err.message}`;
      throw err;
    }
  }

  /** Parents outside the flow must exist; ids the flow gives must not be another task's. */
  async #checkParents(plan: PlannedFlow): Promise<void> {
    const outside = [...new Set(plan.nodes.flatMap((n) => n.external))];
    await inLanes(outside.length, WIDTH, async (i) => {
      if (!(await this.edgeq.tasks.get(outside[i]))) {
        const node = plan.nodes.find((n) => n.external.includes(outside[i]))!;
        throw new ValidationError(`invalid flow: node "${node.id}" depends on unknown task "${outside[i]}"`);
      }
    });
  }

  /** Creates the node's `waiting` record; resolves with its revision, or null when this flow stored it before (a repeat). */
  async #storeWaiting(plan: PlannedFlow, node: PlannedNode, task: OutgoingTask, now: string): Promise<number | null> {
    const parents = [...node.parents, ...node.external];
    const record = newRecord(task, {
      status: "waiting",
      attempts: 0,
      max_attempts: task.policy.maxAttempts,
      created_at: now,
      ...(parents.length > 0 && { depends_on: parents }),
      waiting_on: node.parents.length === 0 ? [gateRef(plan.id), ...parents] : parents,
      ...(node.runAnyway && { run_anyway: true as const }),
      flow: plan.id,
      release: {
        backoff: task.policy.backoff,
        timeout_ms: task.policy.timeoutMs,
        ...(node.children.length > 0 && { has_dependents: true as const }),
        ...(task.trace && { trace: task.trace.headers }),
      },
    });
    const stored = await this.edgeq.tasks.putIfUnchanged(record, 0, task.body);
    if (stored !== null) return stored;
    const found = await this.edgeq.tasks.read(node.id);
    if (found.record?.flow === plan.id) return null;
    const current = await this.edgeq.tasks.get(node.id);
    // An earlier task's finished record, older than the duplicate window, gives way as a plain submission's does.
    const stale = current && FINAL_STATUSES.includes(current.status) && Date.parse(current.created_at) < Date.now() - this.edgeq.config.duplicateWindowMs;
    const replaced = stale ? await this.edgeq.tasks.putIfUnchanged(record, found.revision, task.body) : null;
    if (replaced === null) throw new ConflictError(`flow ${plan.id}: task id "${node.id}" is already in use; nothing of the flow was accepted`);
    return replaced;
  }
}

function submitted(task: OutgoingTask, duplicate: boolean): Submitted {
  return { id: task.id, type: task.type, queue: task.queue, priority: task.priority, duplicate, waiting: true };
}
