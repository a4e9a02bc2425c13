/**
 * The API served by the Node adapter against clients that cost more than they should: raw sockets
 * (node:net) that trickle headers, hold connections, send oversized headers; JSON bodies nested
 * too deep or too wide; a route that cannot finish because NATS froze. Every one is cut off or
 * refused with a clear answer; the API keeps serving. The server's limits are checked on Node and
 * on Bun (whose `edgeq` runs the same adapter through its Node compatibility).
 */
import { spawn } from "node:child_process";
import { connect as tcpConnect, type Socket } from "node:net";
import { Hono } from "hono";
import { afterAll, beforeAll, expect, test } from "vitest";
import { nodeRuntime } from "../src/adapter/node/runtime.ts";
import { createApi } from "../src/api/app.ts";
import { limitTime } from "../src/api/time-limit.ts";
import { MAX_JSON_DEPTH, MAX_JSON_WIDTH, type ServeLimits } from "../src/api/limits.ts";
import { UnavailableError } from "../src/wire/errors.ts";
import type { Served } from "../src/adapter/runtime.ts";
import { EdgeqProcess, eventually, ROOT } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const LIMITS: ServeLimits = { headersTimeoutMs: 1500, requestTimeoutMs: 3000, maxConnections: 8, maxHeaderBytes: 8 * 1024 };
const ROUTE_TIMEOUT_MS = 1000;
let served: Served;
let bun: EdgeqProcess;
/** Where each runtime serves the API with LIMITS. */
const ports: Record<string, number> = {};
const unexpected: unknown[] = [];

beforeAll(async () => {
  const app = createApi(env.edgeq, { routeTimeoutMs: ROUTE_TIMEOUT_MS, onError: (err) => unexpected.push(err) });
  served = await nodeRuntime.serve(app.fetch, 0, LIMITS);
  ports.Node = served.port;
  bun = new EdgeqProcess(
    spawn(`${ROOT}node_modules/.bin/bun`, ["test/fixtures/api-server.ts"], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: env.server.url, EDGEQ_SERVE_LIMITS: JSON.stringify(LIMITS) },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    }),
  );
  ports.Bun = Number(await eventually(async () => /listening (\d+)/.exec(bun.output)?.[1], 30_000, "the API on Bun to listen"));
});

afterAll(async () => {
  await served?.close();
  await bun?.stop();
  expect(unexpected).toEqual([]);
});

/** A raw connection, with what the server sent and when it closed. */
function open(port = served.port): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  return new Promise((ready, fail) => {
    const socket = tcpConnect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (chunk) => (text += chunk.toString("latin1")));
    socket.on("error", () => {}); // a reset is a close here
    const closed = new Promise<number>((done) => socket.once("close", () => done(Date.now())));
    socket.once("connect", () => ready({ socket, received: () => text, closed }));
    socket.once("error", fail);
  });
}

/** Sends a whole request on a fresh connection and returns the status line's code. */
async function statusOf(port: number, request: string): Promise<number> {
  const conn = await open(port);
  conn.socket.end(request);
  await conn.closed;
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(conn.received())?.[1] ?? 0);
}

async function post(body: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${served.port}/tasks`, { method: "POST", body, headers: { "Content-Type": "application/json" } });
}

for (const runtime of ["Node", "Bun"]) {
  test(`${runtime}: a client that trickles its headers byte by byte is cut off by the headers time-out`, async () => {
    const conn = await open(ports[runtime]);
    const started = Date.now();
    conn.socket.write("POST /tasks HTTP/1.1\r\nHost: x\r\n");
    const header = "X-Slow: " + "a".repeat(200);
    let sent = 0;
    const trickle = setInterval(() => {
      if (!conn.socket.destroyed) conn.socket.write(header[sent++ % header.length]);
    }, 50);
    const closedAt = await conn.closed;
    clearInterval(trickle);
    const openMs = closedAt - started;
    console.log(`${runtime} slowloris: ${sent} bytes trickled, closed after ${openMs} ms (headers time-out ${LIMITS.headersTimeoutMs} ms): ${conn.received().split("\r\n")[0]}`);
    // Still trickling when cut off: closed after the time-out, and long before the trickle would end.
    expect(openMs).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 100);
    expect(openMs).toBeLessThan(LIMITS.headersTimeoutMs + 5000);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  test(`${runtime}: oversized headers get 431`, async () => {
    const request = (size: number) => `GET /openapi.json HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(size)}\r\nConnection: close\r\n\r\n`;
    expect(await statusOf(ports[runtime], request(LIMITS.maxHeaderBytes))).toBe(431);
    // Just under the limit is fine.
    expect(await statusOf(ports[runtime], request(LIMITS.maxHeaderBytes - 200))).toBe(200);
  });

  test(`${runtime}: open connections are capped: one past the cap is closed unanswered, and room comes back`, async () => {
    const held = await Promise.all(Array.from({ length: LIMITS.maxConnections }, () => open(ports[runtime])));
    // Each held connection is accepted and served (a partial request keeps it open, under its time-out).
    for (const c of held) c.socket.write("GET /health HTTP/1.1\r\n");
    const extra = await open(ports[runtime]);
    extra.socket.write("GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n");
    await Promise.race([extra.closed, new Promise((r) => setTimeout(r, 1000))]);
    expect(extra.received()).toBe("");
    for (const c of [...held, extra]) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
    // Room once the server has seen the closes (Bun notices them a moment later than Node, which is
    // why this runs last of each runtime's checks).
    const ok = await eventually(async () => (await fetch(`http://127.0.0.1:${ports[runtime]}/openapi.json`).catch(() => null))?.status === 200, 5000, "room");
    expect(ok).toBe(true);
  });
}

test("deeply nested JSON is refused with 400 naming the depth, before it is parsed, and nothing is stored", async () => {
  const before = (await env.edgeq.jsm.streams.info("EDGEQ_TASKS")).state.last_seq;
  for (const data of ["[".repeat(500_000) + "]".repeat(500_000), '{"a":'.repeat(MAX_JSON_DEPTH) + "1" + "}".repeat(MAX_JSON_DEPTH)]) {
    const started = performance.now();
    const res = await post(`{"type": "process", "data": ${data}}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ success: false, code: "validation_error", error: expect.stringMatching(/nested deeper than 64 levels/) });
    console.log(`deep JSON (${data.length} bytes): 400 in ${(performance.now() - started).toFixed(1)} ms`);
  }
  // At the limit it is a task like any other.
  const fine = await post(`{"type": "process", "data": ${"[".repeat(MAX_JSON_DEPTH - 1)}${"]".repeat(MAX_JSON_DEPTH - 1)}}`);
  expect(fine.status).toBe(201);
  expect((await env.edgeq.jsm.streams.info("EDGEQ_TASKS")).state.last_seq).toBe(before + 1);
});

test("very wide JSON is refused with 400 naming the width; strings that look like structure do not count", async () => {
  const wide = `{"type": "process", "data": [${Array.from({ length: 200_000 }, () => "0").join(",")}]}`;
  const started = performance.now();
  const res = await post(wide);
  expect(res.status).toBe(400);
  expect((await res.json()).error).toMatch(`more than ${MAX_JSON_WIDTH} entries`);
  const wideObject = `{"type": "process", "data": {${Array.from({ length: MAX_JSON_WIDTH + 1 }, (_, i) => `"k${i}":1`).join(",")}}}`;
  expect((await post(wideObject)).status).toBe(400);
  console.log(`wide JSON (${wide.length} bytes): 400 in ${(performance.now() - started).toFixed(1)} ms`);
  // Commas and brackets inside strings, escaped quotes included, are text.
  const text = JSON.stringify({ type: "process", data: { s: `\\" ${",[{".repeat(50_000)}` } });
  expect((await post(text)).status).toBe(201);
});

test("a route that cannot finish in time is answered 503 with a JSON error, never a hang; streams are exempt", async () => {
  // NATS frozen (SIGSTOP): the connection looks up, so requests wait on it.
  const frozen = env.server.pid!;
  process.kill(frozen, "SIGSTOP");
  try {
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${served.port}/tasks/some-task`);
    const took = Date.now() - started;
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toMatchObject({ success: false, code: "unavailable_error", error: expect.stringMatching(/longer than 1000 ms/) });
    expect(took).toBeLessThan(ROUTE_TIMEOUT_MS + 3000);
  } finally {
    process.kill(frozen, "SIGCONT");
  }
  expect((await fetch(`http://127.0.0.1:${served.port}/health`)).status).toBe(200);

  // The exemption, on a small app: a stream outlives the time-out, any other route does not.
  const app = new Hono();
  app.use("*", limitTime(100, ["/events"]));
  const slow = async () => (await new Promise((r) => setTimeout(r, 400)), new Response("done"));
  app.get("/events", slow);
  app.get("/other", slow);
  app.onError((err) => new Response(err.message, { status: err instanceof UnavailableError ? 503 : 500 }));
  expect((await app.request("/events")).status).toBe(200);
  expect((await app.request("/other")).status).toBe(503);
});
