/**
 * Dependencies and flows over a real nats-server: a task with depends_on waits, then runs with its
 * parents' results; a parent that fails, dies or is canceled fails its children with
 * dependency_failed, unless they run anyway; POST /flows takes nodes and edges or nested children,
 * and refuses cycles and unknown ids with nothing stored.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import type { Scheduler } from "../src/delayed/mod.ts";
import { PermanentError } from "../src/wire/errors.ts";
import { flowGateKey, FLOWS_BUCKET, HEADER_HAS_DEPENDENTS, pendingSubject, TASKS_BUCKET } from "../src/wire/names.ts";
import { newRecord } from "../src/wire/record.ts";
import type { Handlers, TaskContext, Worker } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const workers: Worker[] = [];
let scheduler: Scheduler;
beforeAll(() => {
  // Parents submitted before their children carry no header: the scheduler's sweep releases theirs.
  scheduler = env.edgeq.scheduler({ holder: "flows-test", onError: () => {} });
});
afterEach(async () => void await Promise.all(workers.splice(0).map((w) => w.stop())));
afterAll(() => scheduler.stop());

const api = () => createApi(env.edgeq, { onError: (err) => console.error(err) });
async function post(path: string, body: unknown) {
  const res = await api().request(path, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { status: res.status, body: await res.json() };
}
const waitFor = async (id: string) => (await env.edgeq.tasks.waitFor(id, 20_000))!;

/** Handlers that log each start and end, and keep what each run saw of its parents. */
function recorder() {
  const log: { id: string; event: "start" | "end"; at: number }[] = [];
  const seen = new Map<string, Pick<TaskContext, "parents" | "parentOutcomes">>();
  const handlers: Handlers = {
    work(data, ctx) {
      log.push({ id: ctx.id, event: "start", at: performance.now() });
      seen.set(ctx.id, { parents: ctx.parents, parentOutcomes: ctx.parentOutcomes });
      if (data?.fail === "permanent") throw new PermanentError("no way");
      if (data?.fail === "throw") throw new Error("boom");
      log.push({ id: ctx.id, event: "end", at: performance.now() });
      return { from: ctx.id, parents: Object.keys(ctx.parents).sort() };
    },
  };
  const at = (id: string, event: "start" | "end") => log.find((e) => e.id === id && e.event === event)?.at;
  return { handlers, log, seen, at };
}

async function work(queue: string, handlers: Handlers): Promise<Worker> {
  const worker = await env.edgeq.worker(handlers, { queues: [queue], concurrency: 20, onError: () => {} });
  workers.push(worker);
  return worker;
}

test("depends_on on POST /tasks: the task waits for its parents, then runs with their results as ctx.parents", async () => {
  const q = "deps_wait";
  const a = await post("/tasks", { type: "work", data: 1, queue: q, id: "wait-a" });
  const b = await post("/tasks", { type: "work", data: 2, queue: q, id: "wait-b" });
  expect([a.status, b.status]).toEqual([201, 201]);
  const child = await post("/tasks", { type: "work", queue: q, id: "wait-c", depends_on: ["wait-a", "wait-b"] });
  expect(child).toMatchObject({ status: 201, body: { task_id: "wait-c", status: "waiting" } });
  const waiting = await env.edgeq.tasks.get("wait-c");
  expect(waiting).toMatchObject({ status: "waiting", depends_on: ["wait-a", "wait-b"] });

  const r = recorder();
  await work(q, r.handlers);
  expect(await waitFor("wait-c")).toMatchObject({ status: "completed", result: { from: "wait-c", parents: ["wait-a", "wait-b"] }, depends_on: ["wait-a", "wait-b"] });
  expect(r.seen.get("wait-c")!.parents).toEqual({ "wait-a": { from: "wait-a", parents: [] }, "wait-b": { from: "wait-b", parents: [] } });
  expect(r.at("wait-c", "start")).toBeGreaterThan(Math.max(r.at("wait-a", "end")!, r.at("wait-b", "end")!));
  // A parent that has completed already: the child is released by its submitter.
  const late = await env.edgeq.queue(q).submit("work", null, { id: "wait-d", dependsOn: ["wait-a"] });
  expect(late).toMatchObject({ id: "wait-d", waiting: true });
  expect(await waitFor("wait-d")).toMatchObject({ status: "completed", result: { parents: ["wait-a"] } });
});

test("a parent that fails permanently fails its child with dependency_failed, and the child's child too", async () => {
  const q = "deps_fail";
  const r = recorder();
  await work(q, r.handlers);
  const batch = await post("/tasks/batch", [
    { type: "work", data: { fail: "permanent" }, queue: q, id: "fail-p" },
    { type: "work", queue: q, id: "fail-c", depends_on: ["fail-p"] },
    { type: "work", queue: q, id: "fail-g", depends_on: ["fail-c"] },
  ]);
  expect(batch).toMatchObject({ status: 201, body: { accepted: 3 } });
  expect(batch.body.tasks.map((t: { status: string }) => t.status)).toEqual(["waiting", "waiting", "waiting"]);
  expect(await waitFor("fail-p")).toMatchObject({ status: "failed" });
  expect(await waitFor("fail-c")).toMatchObject({ status: "failed", error: "dependency_failed: parent fail-p ended failed", attempts: 0 });
  expect(await waitFor("fail-g")).toMatchObject({ status: "failed", error: "dependency_failed: parent fail-c ended failed" });
  expect(r.at("fail-c", "start")).toBeUndefined();
  expect(r.at("fail-g", "start")).toBeUndefined();
});

test("a parent dead-lettered (max_attempts 1, a throwing handler) fails its child", async () => {
  const q = "deps_dead";
  const r = recorder();
  await work(q, r.handlers);
  const flow = await env.edgeq.flow({
    nodes: [{ id: "dead-p", type: "work", data: { fail: "throw" }, queue: q, maxAttempts: 1 }, { id: "dead-c", type: "work", queue: q }],
    edges: [{ from: "dead-p", to: "dead-c" }],
  });
  expect(flow.tasks.map((t) => t.id)).toEqual(["dead-p", "dead-c"]);
  expect(await waitFor("dead-p")).toMatchObject({ status: "dead" });
  expect(await waitFor("dead-c")).toMatchObject({ status: "failed", error: "dependency_failed: parent dead-p ended dead" });
  expect(await env.edgeq.deadLetters.get("dead-p")).toBeTruthy();
  expect(r.at("dead-c", "start")).toBeUndefined();
});

test("a canceled parent fails its child; a child that runs anyway runs, with its parents' outcomes", async () => {
  const q = "deps_cancel";
  await env.edgeq.flow({
    nodes: [
      { id: "cancel-p", type: "work", queue: q },
      { id: "cancel-ok", type: "work", queue: q },
      { id: "cancel-c", type: "work", queue: q, dependsOn: ["cancel-p"] },
      { id: "cancel-any", type: "work", queue: q, dependsOn: ["cancel-p", "cancel-ok"], runAnyway: true },
    ],
  });
  // No worker yet: cancel-p is pending when it is canceled.
  expect((await post("/tasks/cancel-p/cancel", {})).status).toBe(200);
  expect(await env.edgeq.tasks.get("cancel-c")).toMatchObject({ status: "failed", error: "dependency_failed: parent cancel-p ended canceled" });
  expect(await env.edgeq.tasks.get("cancel-any")).toMatchObject({ status: "waiting", waiting_on: ["cancel-ok"] });
  const r = recorder();
  await work(q, r.handlers);
  expect(await waitFor("cancel-any")).toMatchObject({ status: "completed" });
  expect(r.seen.get("cancel-any")).toEqual({
    parents: { "cancel-p": null, "cancel-ok": { from: "cancel-ok", parents: [] } },
    parentOutcomes: {
      "cancel-p": { status: "canceled", result: null, error: "canceled" },
      "cancel-ok": { status: "completed", result: { from: "cancel-ok", parents: [] }, error: null },
    },
  });
  expect(r.at("cancel-c", "start")).toBeUndefined();
  expect(r.at("cancel-p", "start")).toBeUndefined();
});

test("POST /flows with nodes and edges: a diamond runs in dependency order, each node once", async () => {
  const q = "flow_edges";
  const r = recorder();
  await work(q, r.handlers);
  const res = await post("/flows", {
    id: "diamond",
    nodes: ["top", "left", "right", "bottom"].map((id) => ({ id, type: "work", queue: q, max_attempts: 2 })),
    edges: [{ from: "top", to: "left" }, { from: "top", to: "right" }, { from: "left", to: "bottom" }, { from: "right", to: "bottom" }],
  });
  expect(res).toMatchObject({ status: 201, body: { success: true, flow_id: "diamond", duplicate: false } });
  expect(res.body.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(["top", "left", "right", "bottom"]);
  expect(await waitFor("bottom")).toMatchObject({ status: "completed", result: { parents: ["left", "right"] }, max_attempts: 2 });
  expect(r.at("left", "start")).toBeGreaterThan(r.at("top", "end")!);
  expect(r.at("bottom", "start")).toBeGreaterThan(Math.max(r.at("left", "end")!, r.at("right", "end")!));
  expect(r.log.filter((e) => e.event === "start").length).toBe(4);
  // The same flow again: answered as a repeat, nothing runs twice.
  const again = await post("/flows", { id: "diamond", nodes: [{ id: "top", type: "work", queue: q }] });
  expect(again).toMatchObject({ status: 201, body: { duplicate: true } });
});

test("POST /flows with nested children (as BullMQ's flows): a node runs after its children, with their results", async () => {
  const q = "flow_nested";
  const r = recorder();
  await work(q, r.handlers);
  const res = await post("/flows", {
    type: "work", queue: q, id: "report",
    children: [
      { type: "work", queue: q, id: "part-1", children: [{ type: "work", queue: q, id: "part-1a" }] },
      { type: "work", queue: q, id: "part-2" },
    ],
  });
  expect(res.status).toBe(201);
  expect(await waitFor("report")).toMatchObject({ status: "completed", result: { parents: ["part-1", "part-2"] } });
  expect(r.seen.get("part-1")!.parents).toEqual({ "part-1a": { from: "part-1a", parents: [] } });
  expect(r.at("report", "start")).toBeGreaterThan(Math.max(r.at("part-1", "end")!, r.at("part-2", "end")!));
  expect(r.at("part-1", "start")).toBeGreaterThan(r.at("part-1a", "end")!);
});

test("cycles, unknown ids and bad nodes get a 400 naming the problem, and nothing is stored", async () => {
  const count = async () => {
    const [tasks, flows] = await Promise.all([`KV_${TASKS_BUCKET}`, `KV_${FLOWS_BUCKET}`].map((s) => env.edgeq.jsm.streams.info(s)));
    return [tasks.state.last_seq, flows.state.last_seq];
  };
  const before = await count();
  const node = (id: string) => ({ id, type: "work" });
  const cases: [unknown, string][] = [
    [{ nodes: [node("a"), node("b"), node("c")], edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }, { from: "c", to: "b" }] }, "invalid flow: it has a cycle: c -> b -> c"],
    [{ nodes: [{ ...node("a"), depends_on: ["a"] }] }, "invalid flow: it has a cycle: a -> a"],
    [{ nodes: [node("a")], edges: [{ from: "a", to: "zz" }] }, 'invalid flow: edges.0: unknown node id "zz"'],
    [{ nodes: [{ ...node("a"), depends_on: ["no-such-task"] }] }, 'invalid flow: node "a" depends on unknown task "no-such-task"'],
    [{ nodes: [node("a"), node("a")] }, 'invalid flow: node id "a" appears twice'],
    [{ nodes: [{ id: "a", type: "bad type!" }] }, "invalid flow: nodes.0.type: must be words of letters, digits, '_' or '-', joined by single dots"],
    [{ nodes: [] }, "invalid flow: nodes: must hold at least one node"],
    [{ type: "work", children: [{ type: "work", children: "no" }] }, "invalid flow: children.0.children: must be an array of nodes"],
    [Array.from({ length: 31 }).reduce((inner: object) => ({ type: "work", children: [inner] }), { type: "work" }), "invalid flow: children nested deeper than 30 levels"],
  ];
  for (const [body, error] of cases) {
    const res = await post("/flows", body);
    expect(res, JSON.stringify(body)).toMatchObject({ status: 400, body: { success: false, code: "validation_error" } });
    expect(res.body.error).toBe(error);
  }
  const unknownParent = await post("/tasks", { type: "work", depends_on: ["nobody"] });
  expect(unknownParent).toMatchObject({ status: 400, body: { error: 'invalid flow: node "' + unknownParent.body.error.split('"')[1] + '" depends on unknown task "nobody"' } });
  expect(await count()).toEqual(before);
});

test("a release cut short is finished: a parent's outcome stored before its worker died, a committed gate left by its submitter", async () => {
  const q = "deps_recover";
  // The parent's worker stored its outcome, then died before releasing and acknowledging: its message comes back.
  await env.edgeq.flow({ nodes: [{ id: "rec-p", type: "work", queue: q }, { id: "rec-c", type: "work", queue: q, dependsOn: ["rec-p"] }] });
  const message = (await env.edgeq.jsm.streams.getMessage("EDGEQ_TASKS", { last_by_subj: pendingSubject("rec-p") }))!;
  expect(message.header.get(HEADER_HAS_DEPENDENTS)).toBe("1");
  const { record, revision } = await env.edgeq.tasks.read("rec-p");
  const now = new Date().toISOString();
  const outcome = { ...record!, status: "completed" as const, result: "stored before the crash", seq: message.seq, attempts: 1, waiting_on: undefined, finished_at: now };
  expect(await env.edgeq.tasks.putIfUnchanged(outcome, revision)).not.toBeNull();

  // A submitter that died after committing its flow's gate, before releasing it: the scheduler's sweep does.
  const links = env.edgeq.flows.links;
  await env.edgeq.tasks.putIfUnchanged(newRecord({ id: "rec-g", type: "work", queue: q, priority: "normal", data: null }, {
    status: "waiting", attempts: 0, max_attempts: 3, created_at: now, waiting_on: ["flow:rec-flow"], flow: "rec-flow",
    release: { backoff: "fixed:100", timeout_ms: null },
  }), 0);
  expect(await links.put(flowGateKey("rec-flow"), { children: ["rec-g"], committed: true }, 0)).not.toBeNull();

  const r = recorder();
  await work(q, r.handlers);
  expect(await waitFor("rec-c")).toMatchObject({ status: "completed" });
  expect(r.seen.get("rec-c")!.parents).toEqual({ "rec-p": "stored before the crash" });
  expect(r.at("rec-p", "start")).toBeUndefined();
  expect(await waitFor("rec-g")).toMatchObject({ status: "completed", attempts: 1 });
  await eventually(async () => (await links.get(flowGateKey("rec-flow"))) === null, 5000, "the gate to go");
});

test("waiting tasks: GET shows them waiting, ?status=waiting lists them, and a bulk cancel takes them", async () => {
  const q = "deps_bulk";
  await env.edgeq.flow({ nodes: [{ id: "bulk-p", type: "work", queue: q }, { id: "bulk-c", type: "work", queue: q, dependsOn: ["bulk-p"] }, { id: "bulk-g", type: "work", queue: q, dependsOn: ["bulk-c"] }] });
  expect(await env.edgeq.tasks.get("bulk-p")).toMatchObject({ status: "pending" });
  expect(await env.edgeq.tasks.get("bulk-c")).toMatchObject({ status: "waiting", waiting_on: ["bulk-p"] });
  const listed = await api().request("/tasks?status=waiting&limit=1000");
  expect((await listed.json()).tasks.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining(["bulk-c", "bulk-g"]));
  expect(await post("/tasks/cancel", { queue: q, status: "pending" })).toMatchObject({ status: 200, body: { canceled: 3 } });
  for (const id of ["bulk-p", "bulk-c", "bulk-g"]) expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "canceled" });
});

test("a released task first given back by a worker without its handler still gets its parents", async () => {
  const q = "deps_unserved";
  const r = recorder();
  const withoutIt = await work(q, r.handlers);
  await env.edgeq.flow({ nodes: [{ id: "unserved-p", type: "work", queue: q }, { id: "unserved-c", type: "other", queue: q, dependsOn: ["unserved-p"] }] });
  await eventually(async () => withoutIt.info().unserved.includes("other"), 10_000, "the child to be given back");
  let seen: unknown;
  await work(q, { other: (_data, ctx) => (seen = ctx.parents) });
  expect(await waitFor("unserved-c")).toMatchObject({ status: "completed", depends_on: ["unserved-p"] });
  expect(seen).toEqual({ "unserved-p": { from: "unserved-p", parents: [] } });
});

test("a flow naming a task id in use is refused with 409, and what it wrote is removed", async () => {
  const q = "deps_conflict";
  await env.edgeq.flow({ id: "holder", nodes: [{ id: "held-p", type: "work", queue: q }, { id: "held", type: "work", queue: q, dependsOn: ["held-p"] }] });
  const res = await post("/flows", { id: "intruder", nodes: [{ id: "fresh-1", type: "work", queue: q }, { id: "held", type: "work", queue: q }] });
  expect(res).toMatchObject({ status: 409, body: { code: "conflict_error", error: 'flow intruder: task id "held" is already in use; nothing of the flow was accepted' } });
  expect((await env.edgeq.tasks.read("fresh-1")).record).toBeNull();
  expect(await env.edgeq.flows.links.get(flowGateKey("intruder"))).toBeNull();
  expect(await env.edgeq.tasks.get("held")).toMatchObject({ status: "waiting", flow: "holder" });
});
