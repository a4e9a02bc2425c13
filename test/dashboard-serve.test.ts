/**
 * `/dashboard` as each runtime serves it, over HTTP: the page, its bundled script and style sheet,
 * open and with a strict Content-Security-Policy; the data behind them needs a token, and the
 * page's actions the `admin` scope. (The page itself is driven in Chromium by dashboard.test.ts.)
 */
import { afterAll, describe, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { parseApiTokens } from "../src/api/auth.ts";
import { freePort, waitForPort } from "./helpers/nats-server.ts";
import { type EdgeqProcess, type Runtime, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const READER = "reader-token-0123456789abcdef";
const SUBMITTER = "submitter-token-0123456789ab";
const ADMIN = "admin-token-0123456789abcdef";
const procs: EdgeqProcess[] = [];
afterAll(() => Promise.all(procs.map((p) => p.stop())));

describe.each<Runtime>(["node", "deno", "bun"])("on %s", (runtime) => {
  test("the page and its assets are served, open, with a strict CSP; its data is not", async () => {
    const port = await freePort();
    const proc = runEdgeq(runtime, ["serve"], { NATS_URL: env.server.url, PORT: String(port), EDGEQ_API_TOKENS: `${READER}:read` });
    procs.push(proc);
    await proc.waitFor(/API listening/, 60_000);
    await waitForPort(port);
    const base = `http://127.0.0.1:${port}`;

    const page = await fetch(`${base}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) expect(csp).toContain(directive);
    expect(csp).not.toMatch(/unsafe|https?:/);
    const html = await page.text();
    // No inline script or style: the page only names its two files.
    expect(html).toContain('<script src="/dashboard/dashboard.js" defer></script>');
    expect(html).not.toMatch(/<script>|<style|style=|\son\w+=/);
    expect(page.headers.get("set-cookie")).toBeNull();

    const js = await fetch(`${base}/dashboard/dashboard.js`);
    expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
    const script = await js.text();
    expect(script.length).toBeGreaterThan(20_000); // uPlot is in it: nothing is fetched from elsewhere
    expect(script).not.toMatch(/https?:\/\/(?!www\.w3\.org)[a-z]/i);
    const css = await fetch(`${base}/dashboard/dashboard.css`);
    expect(css.headers.get("content-type")).toMatch(/^text\/css/);
    expect(await css.text()).toContain(".uplot");

    for (const path of ["/tasks", "/workers", "/queues", "/events"]) expect((await fetch(`${base}${path}`)).status, path).toBe(401);
    const read = await fetch(`${base}/queues`, { headers: { Authorization: `Bearer ${READER}` } });
    expect(read.status).toBe(200);
  });
});

test("the page's actions take the admin scope; submitting, only submit", async () => {
  const app = createApi(env.edgeq, { onError: () => {}, tokens: parseApiTokens(`${SUBMITTER}:submit,read;${ADMIN}:admin`) });
  const call = (method: string, path: string, token: string) => app.request(path, { method, headers: { Authorization: `Bearer ${token}` } });
  const actions: Array<[string, string]> = [
    ["POST", "/tasks/some-task/cancel"],
    ["POST", "/tasks/cancel"],
    ["POST", "/queues/default/pause"],
    ["POST", "/queues/default/resume"],
    ["POST", "/schedules/nightly/pause"],
    ["POST", "/schedules/nightly/resume"],
    ["DELETE", "/schedules/nightly"],
    ["POST", "/dead-letters/requeue"],
    ["DELETE", "/dead-letters"],
  ];
  for (const [method, path] of actions) {
    const refused = await call(method, path, SUBMITTER);
    expect(refused.status, `${method} ${path}`).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'this token lacks the "admin" scope' });
    // With admin, the route itself answers: 200, or 404 for the names that do not exist.
    expect([200, 404], `${method} ${path} as admin`).toContain((await call(method, path, ADMIN)).status);
  }
  expect((await app.request("/tasks", { method: "POST", body: '{"type": "t"}', headers: { Authorization: `Bearer ${SUBMITTER}` } })).status).toBe(201);
  const schedule = '{"name": "nightly", "cron": "0 3 * * *", "type": "t"}';
  expect((await app.request("/schedules", { method: "POST", body: schedule, headers: { Authorization: `Bearer ${SUBMITTER}` } })).status).toBe(201);
});
