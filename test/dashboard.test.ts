/**
 * The dashboard in headless Chromium, against a real nats-server, `edgeq serve` over HTTP and a
 * demo worker: refused without a token (401) and for actions with a read-only one (403 shown);
 * with an admin token the chart and the task table move as tasks complete and fail, and a task is
 * canceled, a queue paused and resumed, and a dead letter requeued from the page. Saves a
 * screenshot of each page in test/artifacts/ (docs/dashboard.png comes from scripts/dashboard-screenshot.ts).
 */
import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { connect } from "@nats-io/transport-node";
import { Edgeq } from "../src/client/client.ts";
import { newRecord } from "../src/wire/record.ts";
import { launchChromium, openPage, type WatchedPage } from "./helpers/browser.ts";
import { freePort, NatsServer, waitForPort } from "./helpers/nats-server.ts";
import { type EdgeqProcess, eventually, ROOT, runEdgeq } from "./helpers/processes.ts";
import { putRecord } from "./helpers/setup.ts";

const ADMIN = "admin-token-0123456789abcdef";
const READER = "reader-token-0123456789abcdef";
let server: NatsServer;
let api: EdgeqProcess;
let worker: EdgeqProcess;
let browser: Browser;
let origin: string;

beforeAll(async () => {
  server = await NatsServer.start();
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  api = runEdgeq("node", ["serve"], { NATS_URL: server.url, PORT: String(port), EDGEQ_API_TOKENS: `${ADMIN}:read,submit,admin;${READER}:read` });
  await api.waitFor(/API listening/, 60_000);
  await waitForPort(port);
  worker = runEdgeq("node", ["worker", "test/fixtures/dashboard-worker.ts"], { NATS_URL: server.url });
  await worker.workerId();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await api?.stop();
  await server?.stop();
}, 120_000);

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${origin}${path}`, { method, headers: { Authorization: `Bearer ${ADMIN}`, "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return res.json();
}

const submit = (tasks: object[]) => call("POST", "/tasks/batch", tasks).then((r) => r.tasks.map((t: { task_id: string }) => t.task_id) as string[]);

async function useToken(page: Page, token: string): Promise<void> {
  await page.fill("#token-form input", token);
  await page.click("#token-form button");
}

/** The number shown by the chart's totals: completed or failed in the last 15 minutes. */
async function chartTotal(page: Page, outcome: "completed" | "failed"): Promise<number> {
  const text = await page.textContent("#rate-totals");
  return Number(new RegExp(`(\\d+) ${outcome}`).exec(text ?? "")?.[1] ?? NaN);
}

async function waitForText(page: Page, selector: string, pattern: RegExp, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    ([s, p]) => new RegExp(p).test(document.querySelector(s)?.textContent ?? ""),
    [selector, pattern.source] as const,
    { timeout },
  );
}

/** Saves the page as test/artifacts/<name>.png. */
async function snapshot(page: Page, name: string): Promise<void> {
  mkdirSync(`${ROOT}test/artifacts`, { recursive: true });
  await page.screenshot({ path: `${ROOT}test/artifacts/${name}.png`, fullPage: true });
}

let watched: WatchedPage;

test("the page is served with a strict CSP and, without a token, shows no data: the API answers 401", async () => {
  watched = await openPage(browser, origin);
  const { page } = watched;
  const res = await page.goto(`${origin}/dashboard`);
  expect(res?.status()).toBe(200);
  const csp = res?.headers()["content-security-policy"] ?? "";
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain("unsafe-inline");
  await page.waitForSelector("#token-form.asking");
  await waitForText(page, "#page", /Could not load \(401\)/);
  expect(await page.evaluate(() => fetch("/tasks").then((r) => r.status))).toBe(401);
  expect(await page.evaluate(() => document.cookie)).toBe("");
}, 120_000);

test("a read-only token sees the data but its actions are refused with 403, shown on the page", async () => {
  const { page } = watched;
  await useToken(page, READER);
  await page.waitForSelector("[data-stat=workers]");
  await waitForText(page, "[data-stat=workers]", /^1$/);
  await page.goto(`${origin}/dashboard#/queues`);
  await page.click("button[data-pause=default]");
  await waitForText(page, "#notice", /paused default refused \(403\).*lacks the "admin" scope/);
  expect((await call("GET", "/queues")).queues.find((q: { name: string }) => q.name === "default").paused).toBe(false);
}, 120_000);

test("with an admin token, the chart and the task table move as tasks complete and fail", async () => {
  const { page } = watched;
  await page.goto(`${origin}/dashboard#/`);
  await useToken(page, ADMIN);
  await page.waitForSelector("#live.live", { timeout: 30_000 });
  await page.waitForSelector("#rate-chart canvas");
  const before = { completed: await chartTotal(page, "completed"), failed: await chartTotal(page, "failed") };
  for (let wave = 0; wave < 3; wave++) {
    await submit([...Array.from({ length: 10 }, (_, i) => ({ type: "process", data: `wave ${wave} task ${i}` })), { type: "fail", data: { wave }, max_attempts: 1 }]);
  }
  await page.waitForFunction(([c, f]) => {
    const text = document.querySelector("#rate-totals")?.textContent ?? "";
    const n = (o: string) => Number(new RegExp(`(\\d+) ${o}`).exec(text)?.[1]);
    return n("completed") >= c + 30 && n("failed") >= f + 3;
  }, [before.completed, before.failed] as const, { timeout: 60_000 });
  await waitForText(page, "[data-stat=dead]", /^3$/);

  // The first page of tasks follows the events: a task submitted while it is shown appears.
  await page.goto(`${origin}/dashboard#/tasks`);
  await page.waitForSelector("#task-list table");
  const [fresh] = await submit([{ type: "process", data: "while watching" }]);
  await page.waitForSelector(`#task-list a[href="#/task/${fresh}"]`, { timeout: 30_000 });

  await eventually(async () => (await call("GET", `/tasks/${fresh}`)).status === "completed", 30_000, "the last task completed");

  // Filters and pages: 3 dead tasks; 31 completed over two pages of 25, none on both.
  await page.goto(`${origin}/dashboard#/tasks?status=dead`);
  await page.waitForFunction(() => document.querySelectorAll("#task-list tbody tr").length === 3);
  await page.goto(`${origin}/dashboard#/tasks?status=completed&type=process`);
  await page.waitForFunction(() => document.querySelectorAll("#task-list tbody tr").length === 25);
  const first = await page.$$eval("#task-list tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
  await page.click("text=Older →");
  await waitForText(page, ".pager", /page 2/);
  await page.waitForFunction(() => document.querySelectorAll("#task-list tbody tr").length === 6);
  const second = await page.$$eval("#task-list tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
  expect(second.filter((id) => first.includes(id))).toEqual([]);
  await snapshot(page, "tasks");
}, 120_000);

test("a running task is canceled from its page, which shows its timeline", async () => {
  const { page } = watched;
  const [id] = await submit([{ type: "sleep", data: { ms: 120_000 } }]);
  // Running, as its worker's heartbeat says (a first attempt has no record until it ends).
  await eventually(async () => (await call("GET", "/workers")).workers.some((w: { running: string[] }) => w.running.includes(id)), 30_000, "the task running");
  await page.goto(`${origin}/dashboard#/task/${id}`);
  await waitForText(page, ".title-row .badge", /running/);
  await page.click("#cancel-task");
  await waitForText(page, "#notice", new RegExp(`canceled task ${id}`));
  await waitForText(page, ".title-row .badge", /canceled/);
  await waitForText(page, "#timeline", /submitted.*canceled/);
  await snapshot(page, "task");
  expect((await call("GET", `/tasks/${id}`)).status).toBe("canceled");
}, 120_000);

test("a task's page follows its progress to the end", async () => {
  const { page } = watched;
  const [id] = await submit([{ type: "steps", data: { ms: 500 } }]);
  await page.goto(`${origin}/dashboard#/task/${id}`);
  const seen: number[] = [];
  for (let deadline = Date.now() + 30_000; Date.now() < deadline;) {
    const value = await page.$eval("#progress progress", (e) => (e as HTMLProgressElement).value).catch(() => null);
    if (value !== null && value !== seen.at(-1)) seen.push(value);
    if (value === 100) break;
    await page.waitForTimeout(100);
  }
  // Values seen while it ran, rising to 100, without a reload.
  expect(seen.filter((v) => v < 100).length).toBeGreaterThan(0);
  expect(seen).toEqual([...seen].sort((a, b) => a - b));
  expect(seen.at(-1)).toBe(100);
  await waitForText(page, "#result", /"steps": 10/);
  await waitForText(page, ".title-row .badge", /completed/);
}, 120_000);

test("a task of a flow links to its parents", async () => {
  const { page } = watched;
  const parents = await submit([{ type: "process", data: "parent 1" }, { type: "process", data: "parent 2" }]);
  // Written as a flow's task records it (src/flows/ sets depends_on and flow): the page shows what the record says.
  const nc = await connect({ servers: server.url });
  const at = new Date().toISOString();
  const record = { ...newRecord({ id: "flow-child", type: "process", queue: "default", priority: "normal", data: null }, { status: "completed", attempts: 1, max_attempts: 3, created_at: at, finished_at: at }), depends_on: parents, flow: "flow-1" };
  await putRecord(await Edgeq.open(nc), record);
  await nc.close();
  await page.goto(`${origin}/dashboard#/task/flow-child`);
  await waitForText(page, "#flow", /flow-1/);
  expect(await page.$$eval("#flow a", (as) => as.map((a) => a.textContent))).toEqual(parents);
  await page.click(`#flow a[href="#/task/${parents[0]}"]`);
  await waitForText(page, ".title-row h2", new RegExp(parents[0]));
}, 120_000);

test("a dead letter is requeued from the page, with its queue paused and resumed there", async () => {
  const { page } = watched;
  const dead = (await call("GET", "/dead-letters")).dead_letters.map((d: { id: string }) => d.id) as string[];
  expect(dead.length).toBe(3);
  // Paused, the queue keeps the requeued task pending, where the test can see it.
  await page.goto(`${origin}/dashboard#/queues`);
  await page.click("button[data-pause=default]");
  await page.waitForSelector("button[data-resume=default]");
  await page.goto(`${origin}/dashboard#/dead-letters`);
  await page.click(`button[data-requeue="${dead[0]}"]`);
  await waitForText(page, "#notice", new RegExp(`requeued ${dead[0]}`));
  await page.waitForFunction((id) => !document.querySelector(`button[data-requeue="${id}"]`), dead[0]);
  expect((await call("GET", `/tasks/${dead[0]}`)).status).toBe("pending");
  expect((await call("GET", "/dead-letters")).count).toBe(2);
  await page.goto(`${origin}/dashboard#/queues`);
  await page.click("button[data-resume=default]");
  await page.waitForSelector("button[data-pause=default]");
  // Resumed, it runs again, and fails for good again.
  await eventually(async () => (await call("GET", `/tasks/${dead[0]}`)).status === "dead", 30_000, "the requeued task ran");

  await page.goto(`${origin}/dashboard#/dead-letters`);
  await page.waitForSelector(`button[data-purge="${dead[1]}"]`);
  await snapshot(page, "dead-letters");
  await page.click(`button[data-purge="${dead[1]}"]`);
  await waitForText(page, "#notice", new RegExp(`purged ${dead[1]}`));
  await page.waitForFunction((id) => !document.querySelector(`button[data-purge="${id}"]`), dead[1]);
  expect((await call("GET", "/dead-letters")).dead_letters.map((d: { id: string }) => d.id)).not.toContain(dead[1]);
}, 120_000);

test("a schedule is paused, resumed and deleted from the page", async () => {
  const { page } = watched;
  await call("POST", "/schedules", { name: "nightly", cron: "0 3 * * *", type: "process" });
  await page.goto(`${origin}/dashboard#/schedules`);
  await page.click("button[data-pause=nightly]");
  await page.waitForSelector("button[data-resume=nightly]");
  expect((await call("GET", "/schedules/nightly")).paused).toBe(true);
  await page.click("button[data-resume=nightly]");
  await page.waitForSelector("button[data-pause=nightly]");
  expect((await call("GET", "/schedules/nightly")).paused).toBe(false);
  page.once("dialog", (dialog) => void dialog.accept());
  await page.click("button[data-delete=nightly]");
  await waitForText(page, "#schedules", /no recurring tasks/);
  expect((await call("GET", "/schedules")).count).toBe(0);
}, 120_000);

test("a page opened later fills the chart from the records of the last 15 minutes", async () => {
  const later = await openPage(browser, origin);
  await later.page.goto(`${origin}/dashboard`);
  await useToken(later.page, ADMIN);
  // 30 + 1 process tasks and 1 steps completed, 3 fail tasks dead: all before this page opened.
  await later.page.waitForFunction(() => {
    const [, completed, failed] = /^(\d+) completed · (\d+) failed$/.exec(document.querySelector("#rate-totals")?.textContent ?? "") ?? [];
    return Number(completed) >= 32 && Number(failed) >= 3;
  }, undefined, { timeout: 30_000 });
  await later.page.context().close();
  expect(later.problems).toEqual([]);
}, 120_000);

test("the overview after all this: screenshot, and nothing off the origin or against the CSP", async () => {
  const { page, problems } = watched;
  await page.goto(`${origin}/dashboard#/`);
  await page.waitForSelector("#workers table");
  await page.waitForTimeout(1500); // a redraw of the chart with the latest second
  await snapshot(page, "dashboard");
  // Idle, the page asks nothing: it is moved by the events, not by polling.
  const asked: string[] = [];
  const record = (req: { url(): string }) => void asked.push(req.url());
  page.on("request", record);
  await page.waitForTimeout(3000);
  page.off("request", record);
  expect(asked).toEqual([]);
  expect(problems).toEqual([]);
}, 120_000);
