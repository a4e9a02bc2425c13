/**
 * Recurring tasks over a real nats-server: schedules made, read, paused and deleted over HTTP, with
 * bad input named; their ticks submitted on time; and three API processes, the one holding the
 * lease SIGKILLed between ticks, every tick submitted exactly once.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import type { Scheduler } from "../src/delayed/mod.ts";
import type { TaskContext } from "../src/worker/options.ts";
import type { Worker } from "../src/worker/mod.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { freePort } from "./helpers/nats-server.ts";
import { type EdgeqProcess, eventually, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
/** Task ids run, in order, per queue. */
const ran = new Map<string, string[]>();
let worker: Worker;
let scheduler: Scheduler | undefined;
const processes: EdgeqProcess[] = [];
beforeAll(async () => {
  worker = await env.edgeq.worker({ tick: (_: unknown, ctx: TaskContext) => void ran.set(ctx.queue, [...(ran.get(ctx.queue) ?? []), ctx.id]) }, {
    queues: ["recurring_http", "recurring_kill"],
  });
});
afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
  await Promise.all(processes.splice(0).map((p) => p.stop()));
});
afterAll(() => worker?.stop());

async function call(method: string, path: string, body?: unknown) {
  const res = await createApi(env.edgeq, { onError: () => {} }).request(path, { method, ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: res.status, body: await res.json() };
}
/** The tick times of schedule `name`'s tasks, from their ids. */
const ticks = (queue: string, name: string) =>
  (ran.get(queue) ?? []).filter((id) => id.startsWith(`sched-${name}-`)).map((id) => Number(id.slice(`sched-${name}-`.length)));

test("schedules over HTTP: made, listed, read, paused, resumed and deleted; their ticks run on the second", async () => {
  scheduler = env.edgeq.scheduler({ holder: "one" });
  const made = await call("POST", "/schedules", { name: "every-second", cron: "* * * * * *", type: "tick", queue: "recurring_http" });
  expect(made).toMatchObject({ status: 201, body: { success: true, schedule: { name: "every-second", tz: "UTC", paused: false } } });
  expect(Date.parse(made.body.schedule.next_run) % 1000).toBe(0);
  await eventually(async () => ticks("recurring_http", "every-second").length >= 3, 10_000, "3 ticks");
  const seen = ticks("recurring_http", "every-second");
  expect(seen.every((t) => t % 1000 === 0)).toBe(true);
  expect(new Set(seen).size).toBe(seen.length);

  expect((await call("GET", "/schedules")).body).toMatchObject({ count: 1, schedules: [{ name: "every-second" }] });
  expect((await call("POST", "/schedules/every-second/pause")).body.schedule).toMatchObject({ paused: true, next_run: null });
  await new Promise((r) => setTimeout(r, 1200));
  const whilePaused = ticks("recurring_http", "every-second").length;
  await new Promise((r) => setTimeout(r, 1500));
  expect(ticks("recurring_http", "every-second").length).toBe(whilePaused);
  expect((await call("POST", "/schedules/every-second/resume")).body.schedule).toMatchObject({ paused: false });
  await eventually(async () => ticks("recurring_http", "every-second").length > whilePaused, 5000, "ticks after the resume");
  expect(await call("DELETE", "/schedules/every-second")).toMatchObject({ status: 200, body: { success: true } });
  expect(await call("GET", "/schedules/every-second")).toMatchObject({ status: 404, body: { error: "schedule every-second not found" } });
});

test("bad schedules are 400s naming what is wrong", async () => {
  const bad = async (body: unknown) => (await call("POST", "/schedules", body)).body;
  expect(await bad({ name: "x", cron: "every day", type: "tick" })).toMatchObject({ code: "validation_error", error: expect.stringMatching(/cron: .*five or six/) });
  expect(await bad({ name: "x", cron: "0 9 * * *", tz: "Mars/Base", type: "tick" })).toMatchObject({ error: expect.stringMatching(/tz: Invalid time zone/) });
  expect(await bad({ name: "no spaces", cron: "0 9 * * *", type: "tick" })).toMatchObject({ error: expect.stringMatching(/name: must be 1-64/) });
  expect(await bad({ name: "x", cron: "0 9 * * *" })).toMatchObject({ error: expect.stringMatching(/type/) });
  expect(await call("POST", "/schedules/nope/pause")).toMatchObject({ status: 404 });
  expect(await call("DELETE", "/schedules/nope")).toMatchObject({ status: 404 });
});

test("three API processes, the lease holder SIGKILLed between ticks: every tick is submitted exactly once", async () => {
  const apis = await Promise.all([0, 1, 2].map(async () => {
    const proc = runEdgeq("node", ["serve"], { NATS_URL: env.server.url, PORT: String(await freePort()) });
    processes.push(proc);
    await proc.waitFor(/promotes delayed tasks/);
    return proc;
  }));
  const watch = await RecordWatch.start(env.edgeq);
  await env.edgeq.schedules.set({ name: "every-second", cron: "* * * * * *", type: "tick", queue: "recurring_kill" });
  await eventually(async () => ticks("recurring_kill", "every-second").length >= 2, 10_000, "2 ticks");
  // Just after a tick, so that the kill falls between ticks.
  const before = ticks("recurring_kill", "every-second").length;
  await eventually(async () => ticks("recurring_kill", "every-second").length > before, 5000, "a fresh tick");
  const holder = (await env.edgeq.buckets.scheduler.get("leader"))!.json<{ holder: string }>().holder;
  apis.find((p) => p.output.includes(holder))!.kill("SIGKILL");
  const killedAt = Date.now();
  await eventually(async () => ticks("recurring_kill", "every-second").some((t) => t > killedAt + 5000), 20_000, "ticks 5 s past the kill");
  await env.edgeq.schedules.delete("every-second");
  const seen = ticks("recurring_kill", "every-second").sort((a, b) => a - b);
  console.log(`recurring across a lease holder's SIGKILL: ${seen.length} ticks, ${new Set(seen).size} distinct`);
  expect(new Set(seen).size).toBe(seen.length);
  // Every second from the first tick to the last, none skipped.
  expect(seen.map((t, i) => t - seen[0] - i * 1000)).toEqual(seen.map(() => 0));
  await checkInvariants(env.edgeq, ran.get("recurring_kill")!, { logs: [watch], expectStatus: "completed" });
  await watch.stop();
});
