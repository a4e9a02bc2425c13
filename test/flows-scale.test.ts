/**
 * A 10,000-node flow (10 layers of 1,000, each node waiting on two of the layer before) submitted in
 * one call and worked by one worker, with no scheduler running: every release is the settle path's.
 * Every node runs once, and after both its parents ended.
 */
import { afterAll, expect, test } from "vitest";
import type { Worker } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
let worker: Worker | undefined;
afterAll(async () => void await worker?.stop());

const LAYERS = 10;
const WIDTH = 1000;
const id = (layer: number, i: number) => `n${layer}-${i}`;

test(`a ${LAYERS * WIDTH}-node flow completes in dependency order, each node once`, async () => {
  const nodes = [];
  const edges = [];
  for (let layer = 0; layer < LAYERS; layer++) {
    for (let i = 0; i < WIDTH; i++) {
      nodes.push({ id: id(layer, i), type: "step", queue: "scale", data: { layer } });
      if (layer > 0) edges.push({ from: id(layer - 1, i), to: id(layer, i) }, { from: id(layer - 1, (i + 1) % WIDTH), to: id(layer, i) });
    }
  }
  const starts = new Map<string, number>();
  const ends = new Map<string, number>();
  let runs = 0;
  const started = performance.now();
  const flow = await env.edgeq.flow({ id: "scale", nodes, edges });
  const acceptedMs = performance.now() - started;
  expect(flow.tasks).toHaveLength(LAYERS * WIDTH);
  worker = await env.edgeq.worker({
    step(_data, ctx) {
      runs++;
      starts.set(ctx.id, performance.now());
      // Both parents' results arrive.
      if (Object.keys(ctx.parents).length !== (ctx.id.startsWith("n0-") ? 0 : 2)) throw new Error(`${ctx.id}: parents ${Object.keys(ctx.parents)}`);
      ends.set(ctx.id, performance.now());
      return ctx.id;
    },
  }, { queues: ["scale"], concurrency: 100, onError: (err) => console.error(err) });

  await eventually(async () => ends.size === LAYERS * WIDTH, 120_000, "every node to run");
  const last = id(LAYERS - 1, WIDTH - 1);
  await eventually(async () => (await env.edgeq.tasks.get(last))?.status === "completed", 20_000, "the last outcome");
  const totalMs = performance.now() - started;
  console.log(`flow of ${LAYERS * WIDTH} nodes: accepted in ${(acceptedMs / 1000).toFixed(1)} s, all completed ${(totalMs / 1000).toFixed(1)} s after submission`);

  expect(runs).toBe(LAYERS * WIDTH);
  const late: string[] = [];
  for (const { from, to } of edges) if (!(starts.get(to)! > ends.get(from)!)) late.push(`${to} before ${from}`);
  expect(late).toEqual([]);
  // Every link and the gate removed once released.
  const liveLinks = async () => {
    let n = 0;
    for await (const _ of await env.edgeq.buckets.flows.keys()) n++;
    return n;
  };
  await eventually(async () => (await liveLinks()) === 0, 20_000, "the links to be removed");
  // About 17 s here; a machine loaded by other suites may take a few times that.
}, 180_000);
