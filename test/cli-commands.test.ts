/**
 * Each `edgeq` command as a user runs it: the built command spawned against a test nats-server,
 * with its tables, its --json, its --help, and its errors (a bad flag, a taken port).
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { PermanentError } from "../src/wire/errors.ts";
import type { Worker } from "../src/worker/mod.ts";
import { freePort } from "./helpers/nats-server.ts";
import { EdgeqProcess, ROOT, type Runtime, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const UNREACHABLE = "nats://127.0.0.1:1";
const COMMANDS = ["serve", "worker", "dev", "submit", "tasks", "task", "cancel", "queues", "pause", "resume", "workers", "schedules", "dead", "top"];
let worker: Worker;

beforeAll(async () => {
  worker = await env.edgeq.worker({
    async step(data: { ms: number }, ctx) {
      ctx.progress(50);
      await new Promise((r) => setTimeout(r, data.ms));
      return { stepped: data.ms };
    },
    broken() {
      throw new PermanentError("broken on purpose");
    },
  }, { queues: ["default", "work"] });
});
afterAll(() => worker?.stop());

/** Runs `edgeq …` to its end; resolves with its exit code and everything it printed. */
async function edgeq(args: string[], { natsUrl = env.server.url, runtime = "node" as Runtime } = {}): Promise<{ code: number | null; out: string }> {
  const proc: EdgeqProcess = runEdgeq(runtime, args, { NATS_URL: natsUrl }, tmpdir());
  const code = await proc.exited;
  return { code, out: proc.output };
}

async function json(args: string[]): Promise<any> {
  const { code, out } = await edgeq([...args, "--json"]);
  expect(code, out).toBe(0);
  return JSON.parse(out);
}

test("every command's --help prints its usage and connects to nothing", async () => {
  const helps = await Promise.all(COMMANDS.map((name) => edgeq([name, "--help"], { natsUrl: UNREACHABLE })));
  helps.forEach(({ code, out }, i) => {
    expect(code, out).toBe(0);
    expect(out).toMatch(new RegExp(`^usage: edgeq ${COMMANDS[i]}`));
    expect(out).toMatch(/--json/);
    expect(out).not.toMatch(/connecting|cannot reach/);
  });
  const top = await edgeq(["--help"], { natsUrl: UNREACHABLE });
  expect(top.code).toBe(0);
  for (const name of COMMANDS) expect(top.out).toMatch(new RegExp(`^  ${name}\\b`, "m"));
});

test("--version prints package.json's version", async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  expect(await edgeq(["--version"])).toEqual({ code: 0, out: `${version}\n` });
});

test.each<Runtime>(["node", "deno", "bun"])("on %s, an unknown flag is refused with a did-you-mean, before connecting", async (runtime) => {
  const { code, out } = await edgeq(["submit", "process", "--prioroty", "high"], { natsUrl: UNREACHABLE, runtime });
  expect(code).toBe(1);
  expect(out).toBe("edgeq: unknown flag --prioroty for submit; did you mean --priority?\n  hint: see `edgeq submit --help`\n");
});

test.each([
  [["submit", "process", "--priority", "urgent"], /--priority: must be one of high, normal, low/],
  [["submit", "process", "--delay", "soon"], /--delay: must be a whole number of ms, or with a unit/],
  [["submit"], /submit needs a task type, or --file/],
  [["submit", "a", "b", "c"], /submit takes at most/],
  [["submit", "process", "--queue"], /--queue needs a value/],
  [["tasks", "--status", "lost"], /--status: must be one of waiting, delayed, pending/],
  [["task"], /task needs <id>/],
  [["pause"], /pause needs <queue>/],
  [["cancel", "x", "--all"], /cancel needs a task id or --all, not both/],
  [["top", "--interval", "fast"], /--interval: must be/],
  [["sumbit"], /unknown command "sumbit"; did you mean "submit"\?/],
])("edgeq %j is refused before connecting: %s", async (args, message) => {
  const { code, out } = await edgeq(args, { natsUrl: UNREACHABLE });
  expect(code).toBe(1);
  expect(out).toMatch(message);
  expect(out).toMatch(/hint: see `edgeq/);
  expect(out).not.toMatch(/cannot reach|\n\s+at /);
});

test("an unreachable NATS is one line with a hint", async () => {
  const { code, out } = await edgeq(["tasks"], { natsUrl: UNREACHABLE });
  expect(code).toBe(1);
  expect(out).toMatch(/^edgeq: cannot reach NATS at nats:\/\/127.0.0.1:1 .*\n  hint: is nats-server running/);
});

test("a taken port is one line: port N is in use; set PORT or --port", async () => {
  const blocker = createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, r));
  try {
    const { code, out } = await edgeq(["serve", "--port", String(port)]);
    expect(code).toBe(1);
    expect(out).toMatch(new RegExp(`^edgeq: port ${port} is in use; set PORT or --port$`, "m"));
    expect(out).not.toMatch(/EADDRINUSE|\n\s+at /);
  } finally {
    blocker.close();
  }
});

test("submit, task and tasks: a table by default, JSON with --json", async () => {
  const submitted = await json(["submit", "later", '{"n": 1}', "--priority", "high", "--queue", "cli", "--delay", "1h"]);
  expect(submitted).toMatchObject({ type: "later", queue: "cli", priority: "high", duplicate: false });
  const record = await json(["task", submitted.id]);
  expect(record).toMatchObject({ id: submitted.id, status: "delayed", data: { n: 1 } });
  const { code, out } = await edgeq(["tasks", "--status", "delayed"]);
  expect(code).toBe(0);
  expect(out).toMatch(new RegExp(`^${submitted.id}  later +cli +high +delayed `, "m"));
  expect((await edgeq(["task", submitted.id])).out).toMatch(/^status +delayed$/m);
  const plain = await edgeq(["submit", "later", "just text", "--delay", "1h"]);
  expect(plain.out).toMatch(/^submitted \S+ \(later on default, normal\)/);
  const missing = await edgeq(["task", "no-such-task"]);
  expect(missing).toEqual({ code: 1, out: "edgeq: no task no-such-task\n  hint: `edgeq tasks` lists the tasks edgeq still keeps\n" });
});

test("submit --wait shows the task's progress and prints its result; a failure exits 1", async () => {
  const done = await edgeq(["submit", "step", '{"ms": 1500}', "--wait"]);
  expect(done.code, done.out).toBe(0);
  expect(done.out).toMatch(/running attempt 1\/3 \[#{10}-{10}\] 50%/);
  expect(done.out).toMatch(/^status +completed$/m);
  expect(done.out).toMatch(/^result +{"stepped":1500}$/m);
  const failed = await edgeq(["submit", "broken", "--wait", "--json"]);
  expect(failed.code).toBe(1);
  expect(JSON.parse(failed.out)).toMatchObject({ status: "failed", error: expect.stringContaining("broken on purpose") });
});

test("submit --file submits thousands of lines and counts accepted, duplicate and refused", async () => {
  const path = join(tmpdir(), `edgeq-cli-${process.pid}.jsonl`);
  const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ type: "later", data: i, id: `file-${i}` }));
  lines.push(JSON.stringify({ type: "later", id: "file-7" }), "{not json", JSON.stringify({ type: "later", priority: "urgent" }), "");
  writeFileSync(path, lines.join("\n"));
  const first = await edgeq(["submit", "--file", path, "--queue", "bulk", "--delay", "1h", "--json"]);
  expect(first.code, "refused lines make the exit code 1").toBe(1);
  const summary = JSON.parse(first.out);
  expect(summary).toMatchObject({ lines: 3003, accepted: 3000, duplicate: 1, refused: 2 });
  expect(summary.refused_lines).toEqual([
    { line: 3002, reason: "not JSON" },
    { line: 3003, reason: "priority: must be one of high, normal, low" },
  ]);
  const again = await edgeq(["submit", "--file", path, "--queue", "bulk", "--delay", "1h"]);
  expect(again.code).toBe(1);
  expect(again.out).toMatch(/^accepted 0, duplicate 3001, refused 2 \(of 3003 lines\)\n  line 3002: not JSON\n/);
});

test("cancel, pause, resume, queues, workers and schedules", async () => {
  const task = await env.edgeq.queue("ctl").submit("later", null, { delayMs: 3_600_000 });
  expect((await edgeq(["cancel", task.id])).out).toBe(`canceled ${task.id}\n`);
  expect((await env.edgeq.tasks.get(task.id))?.status).toBe("canceled");

  expect((await edgeq(["pause", "work"])).out).toMatch(/^queue work paused since \d{4}-/);
  const listed = await json(["queues"]);
  expect(listed.find((q: { name: string }) => q.name === "work")).toMatchObject({ paused: true });
  expect((await edgeq(["queues"])).out).toMatch(/^work +paused /m);
  expect(await json(["resume", "work"])).toMatchObject({ queue: "work", paused: false });

  const workers = await json(["workers"]);
  expect(workers.map((w: { id: string }) => w.id)).toContain(worker.info().id);
  expect((await edgeq(["workers"])).out).toMatch(new RegExp(`^${worker.info().id} +unknown +unknown +default,work `, "m"));

  await env.edgeq.schedules.set({ name: "cli-nightly", cron: "0 3 * * *", type: "later" });
  expect((await json(["schedules"])).map((s: { name: string }) => s.name)).toContain("cli-nightly");
  expect((await edgeq(["schedules"])).out).toMatch(/^cli-nightly +0 3 \* \* \* +/m);
});

test("top --once prints one frame: rates, depths and workers", async () => {
  const [frame, text] = await Promise.all([json(["top", "--once", "--interval", "300ms"]), edgeq(["top", "--once", "--interval", "300ms"])]);
  expect(frame).toMatchObject({ completed_per_s: expect.any(Number), failed_per_s: expect.any(Number), health: { status: "healthy" } });
  expect(frame.workers.map((w: { id: string }) => w.id)).toContain(worker.info().id);
  expect(text.code).toBe(0);
  expect(text.out).toMatch(/^edgeq top — .*healthy\ncompleted [\d.]+\/s +failed [\d.]+\/s +pending \d+/);
  expect(text.out).toMatch(/^queue +state +pending high/m);
});

/** `edgeq …` on a terminal (a pseudo-terminal from util-linux's `script`), with its stdin to type into. */
function onTerminal(args: string[]): EdgeqProcess {
  const command = [process.execPath, `${ROOT}bin/edgeq.js`, ...args].map((a) => `'${a}'`).join(" ");
  return new EdgeqProcess(
    spawn("script", ["-qfec", command, "/dev/null"], {
      cwd: tmpdir(), env: { ...process.env, NATS_URL: env.server.url, COLUMNS: "120" }, stdio: ["pipe", "pipe", "pipe"], detached: true,
    }),
  );
}

test("top on a terminal redraws until q is pressed", async () => {
  const top = onTerminal(["top", "--interval", "300ms"]);
  try {
    await top.waitFor(/\(q quits\)[\s\S]*\x1b\[H\x1b\[2Jedgeq top/); // a second frame, drawn over the first
    top.proc.stdin!.write("q");
    expect(await top.exited).toBe(0);
  } finally {
    await top.stop();
  }
});

test("submit --file on a terminal shows a progress bar with rate and ETA", async () => {
  const path = join(tmpdir(), `edgeq-cli-tty-${process.pid}.jsonl`);
  writeFileSync(path, Array.from({ length: 2000 }, (_, i) => JSON.stringify({ type: "later", data: i })).join("\n"));
  const submit = onTerminal(["submit", "--file", path, "--queue", "tty", "--delay", "1h"]);
  try {
    expect(await submit.exited).toBe(0);
    expect(submit.output).toMatch(/submitting \[█{10,}\] 100% 2000\/2000 \| \d+\/s \| ETA 0s/);
    expect(submit.output).toMatch(/accepted 2000, duplicate 0, refused 0 \(of 2000 lines\)/);
  } finally {
    await submit.stop();
  }
});
