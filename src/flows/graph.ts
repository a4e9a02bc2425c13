/**
 * A flow's graph as the library and the API take it, checked whole before anything is stored:
 * nodes and edges (`{nodes: [...], edges: [{from, to}]}`: `to` runs after `from`), or one node with
 * nested `children` as BullMQ's FlowProducer takes it (a node runs after its children, which are
 * its parents in edgeq's terms: `ctx.parents` holds their results). A node's `dependsOn` may also
 * name tasks outside the flow, submitted before. Duplicate ids, edges naming no node and cycles
 * are ValidationErrors that name them.
 */
import { z } from "zod";
import { taskKeySchema } from "../limits/limit.ts";
import { parseInput } from "../nats/mod.ts";
import {
  backoffSchema,
  DEFAULT_QUEUE,
  dependsOnSchema,
  idSchema,
  MAX_PARENTS,
  maxAttemptsSchema,
  type Priority,
  prioritySchema,
  queueSchema,
  timeoutSchema,
  typeSchema,
  ValidationError,
} from "../wire/mod.ts";

/** Nodes one flow may hold. */
export const MAX_FLOW_NODES = 10_000;
const nodeFields = {
  id: idSchema.optional(),
  type: typeSchema,
  data: z.unknown().optional(),
  queue: queueSchema.optional(),
  priority: prioritySchema.optional(),
  maxAttempts: maxAttemptsSchema.optional(),
  backoff: backoffSchema.optional(),
  timeoutMs: timeoutSchema.optional(),
  /** A tenant or user: the `keys` limits apply per distinct key. */
  key: taskKeySchema.optional(),
  /** Tasks (in this flow, or submitted before) this one runs after. */
  dependsOn: dependsOnSchema.optional(),
  /** Run even when a parent fails, dies or is canceled (then `ctx.parentOutcomes` says how each ended). */
  runAnyway: z.boolean({ error: "must be true or false" }).optional(),
};

export interface FlowNodeInput extends z.input<z.ZodObject<typeof nodeFields>> {
  /** Nested form: this node runs after all of these. */
  children?: FlowNodeInput[];
}

const nestedSchema: z.ZodType<FlowNodeInput> = z.lazy(() =>
  z.strictObject({ ...nodeFields, children: z.array(nestedSchema, { error: "must be an array of nodes" }).optional() }, {
    error: (issue) => (issue.code === "unrecognized_keys" ? undefined : "must be an object"),
  })
);

const graphSchema = z.strictObject({
  /** The flow's id; a repeat with the same id inside the duplicate window is answered as the first. */
  id: idSchema.optional(),
  nodes: z.array(z.strictObject(nodeFields, { error: "must be an object" }), { error: "must be an array of nodes" }).min(1, "must hold at least one node"),
  edges: z.array(z.strictObject({ from: idSchema, to: idSchema }, { error: "must be an object {from, to}" }), { error: "must be an array of edges" }).optional(),
});

export type FlowInput = z.input<typeof graphSchema> | (FlowNodeInput & { id?: string });

/** Either form, for the API's description of `POST /flows`. */
export const flowSchema = z.union([graphSchema, nestedSchema]);

/** The API's snake_case field names, and the library's. */
const CAMEL: Record<string, string> = { max_attempts: "maxAttempts", timeout_ms: "timeoutMs", depends_on: "dependsOn", run_anyway: "runAnyway" };

/** Levels of nested `children` a flow may have (and of arrays and objects besides `data`): within the API's JSON nesting limit (two levels each). */
export const MAX_FLOW_DEPTH = 30;

/** A flow as the API takes it (snake_case fields, as `POST /tasks` has them), in the library's names. */
export function fromSnakeCase(input: unknown, depth = 0): unknown {
  if (typeof input !== "object" || input === null) return input;
  // A node and its children array are two levels; a few more for the fields around them.
  if (depth > MAX_FLOW_DEPTH * 2 + 8) fail(`invalid flow: nested deeper than ${MAX_FLOW_DEPTH} levels`);
  if (Array.isArray(input)) return input.map((v) => fromSnakeCase(v, depth + 1));
  return Object.fromEntries(Object.entries(input).map(([k, v]) => [CAMEL[k] ?? k, k === "data" ? v : fromSnakeCase(v, depth + 1)]));
}

/** Refuses nested children deeper than MAX_FLOW_DEPTH before they are parsed (recursively). */
function checkDepth(root: unknown): void {
  let level: unknown[] = [root];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > MAX_FLOW_DEPTH) fail(`invalid flow: children nested deeper than ${MAX_FLOW_DEPTH} levels`);
    level = level.flatMap((n) => (typeof n === "object" && n !== null && Array.isArray((n as FlowNodeInput).children) ? (n as FlowNodeInput).children! : []));
  }
}

/** One task of a checked flow. */
export interface PlannedNode {
  id: string;
  type: string;
  data: unknown;
  queue: string;
  priority?: Priority;
  maxAttempts?: number;
  backoff?: string;
  timeoutMs?: number | null;
  key?: string;
  runAnyway: boolean;
  /** Its parents in the flow. */
  parents: string[];
  /** Its parents outside the flow, submitted before. */
  external: string[];
  /** The flow's nodes that wait on it. */
  children: string[];
}

export interface PlannedFlow {
  id: string;
  /** In dependency order: every node after its parents. */
  nodes: PlannedNode[];
}

/** Checks and plans a flow: every problem is a ValidationError naming it. */
export function planFlow(input: unknown, newId: () => string = () => crypto.randomUUID()): PlannedFlow {
  if (typeof input === "object" && input !== null && "nodes" in input) {
    const graph = parseInput(graphSchema, input, "flow");
    const nodes = graph.nodes.map((n, i) => ({ ...n, id: n.id ?? fail(`invalid flow: nodes.${i}.id: is required with edges`) }));
    const edges = (graph.edges ?? []).map((e) => [e.from, e.to] as const);
    return { id: graph.id ?? newId(), nodes: order(nodes, edges) };
  }
  checkDepth(input);
  const root = parseInput(nestedSchema, input, "flow");
  // An id given at the top names the node, and the flow too.
  const flowId = root.id ?? newId();
  const nodes: (FlowNodeInput & { id: string })[] = [];
  const edges: (readonly [string, string])[] = [];
  const walk = (node: FlowNodeInput, id: string) => {
    const { children, ...fields } = node;
    nodes.push({ ...fields, id });
    for (const child of children ?? []) {
      const childId = child.id ?? newId();
      edges.push([childId, id]);
      walk(child, childId);
    }
  };
  walk(root, root.id ?? newId());
  return { id: flowId, nodes: order(nodes, edges) };
}

/** The nodes in dependency order, with their parents and children; a cycle is named. */
function order(inputs: (FlowNodeInput & { id: string })[], edges: (readonly [string, string])[]): PlannedNode[] {
  if (inputs.length > MAX_FLOW_NODES) fail(`invalid flow: must hold at most ${MAX_FLOW_NODES} nodes`);
  const byId = new Map<string, PlannedNode>();
  for (const n of inputs) {
    if (byId.has(n.id)) fail(`invalid flow: node id "${n.id}" appears twice`);
    byId.set(n.id, {
      id: n.id, type: n.type, data: n.data ?? null, queue: n.queue ?? DEFAULT_QUEUE, priority: n.priority, maxAttempts: n.maxAttempts,
      backoff: n.backoff, timeoutMs: n.timeoutMs, key: n.key, runAnyway: n.runAnyway ?? false, parents: [], external: [], children: [],
    });
  }
  const link = (from: string, to: string) => {
    const parent = byId.get(from)!;
    const child = byId.get(to)!;
    if (child.parents.includes(from)) return;
    child.parents.push(from);
    parent.children.push(to);
  };
  edges.forEach(([from, to], i) => {
    for (const end of [from, to]) if (!byId.has(end)) fail(`invalid flow: edges.${i}: unknown node id "${end}"`);
    link(from, to);
  });
  for (const n of inputs) {
    for (const parent of n.dependsOn ?? []) {
      if (byId.has(parent)) link(parent, n.id);
      else if (!byId.get(n.id)!.external.includes(parent)) byId.get(n.id)!.external.push(parent);
    }
  }
  for (const node of byId.values()) {
    if (node.parents.length + node.external.length > MAX_PARENTS) fail(`invalid flow: node "${node.id}" waits on more than ${MAX_PARENTS} tasks`);
  }
  // Kahn's algorithm: what is left unordered lies on a cycle or after one.
  const remaining = new Map([...byId.values()].map((n) => [n.id, n.parents.length]));
  const sorted: PlannedNode[] = [...byId.values()].filter((n) => n.parents.length === 0);
  for (let i = 0; i < sorted.length; i++) {
    for (const child of sorted[i].children) {
      const left = remaining.get(child)! - 1;
      remaining.set(child, left);
      if (left === 0) sorted.push(byId.get(child)!);
    }
  }
  if (sorted.length < byId.size) fail(`invalid flow: it has a cycle: ${cycleIn(byId, new Set(sorted.map((n) => n.id))).join(" -> ")}`);
  return sorted;
}

/** One cycle among the nodes left unordered, as ids, the first repeated at the end. */
function cycleIn(byId: Map<string, PlannedNode>, ordered: Set<string>): string[] {
  // Walk parents from an unordered node: every unordered node has an unordered parent, so the walk repeats a node.
  let at = [...byId.keys()].find((id) => !ordered.has(id))!;
  const path: string[] = [];
  const seen = new Map<string, number>();
  while (!seen.has(at)) {
    seen.set(at, path.length);
    path.push(at);
    at = byId.get(at)!.parents.find((p) => !ordered.has(p))!;
  }
  // In the order the tasks would run: parent first.
  const cycle = path.slice(seen.get(at)!).reverse();
  return [...cycle, cycle[0]];
}

function fail(message: string): never {
  throw new ValidationError(message);
}
