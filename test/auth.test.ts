/**
 * API authentication and rate limiting over a real nats-server: bearer tokens and their scopes,
 * the 401/403/429 answers, the parsers of EDGEQ_API_TOKENS and EDGEQ_RATE_LIMIT, and `edgeq serve`
 * keying the limit by the real client address on Node and Deno.
 */
import { afterEach, describe, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { constantTimeEqual, parseApiTokens } from "../src/api/auth.ts";
import { WORK_STREAM } from "../src/wire/names.ts";
import { parseRateLimit, RateLimiter } from "../src/api/rate-limit.ts";
import { freePort, waitForPort } from "./helpers/nats-server.ts";
import { type EdgeqProcess, type Runtime, runEdgeq } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const READER = "reader-token-0123456789";
const SUBMITTER = "submitter-token-0123456789";
const BOTH = "both-token-0123456789abcdef";
const tokens = () => parseApiTokens(`${READER}:read; ${SUBMITTER}:submit ;${BOTH}:submit,read`);

function api(options: Parameters<typeof createApi>[1] = {}) {
  return createApi(env.edgeq, { onError: () => {}, tokens: tokens(), ...options });
}

function submit(app: ReturnType<typeof createApi>, token?: string, headers: Record<string, string> = {}) {
  const auth: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  return app.request("/tasks", { method: "POST", body: '{"type": "process", "data": "hi"}', headers: { ...auth, ...headers } });
}

async function storedMessages(): Promise<number> {
  return (await env.edgeq.jsm.streams.info(WORK_STREAM)).state.last_seq;
}

describe("bearer tokens", () => {
  test("no token, a wrong token or another scheme: 401 with WWW-Authenticate: Bearer, JSON, nothing enqueued", async () => {
    const app = api();
    const before = await storedMessages();
    const attempts: Array<Record<string, string>> = [
      {},
      { Authorization: "Bearer not-a-configured-token-at-all" },
      { Authorization: `Bearer ${READER}x` },
      { Authorization: `Bearer ${READER.slice(0, -1)}` },
      { Authorization: `Basic ${btoa(`user:${SUBMITTER}`)}` },
      { Authorization: "Bearer" },
      { Authorization: `Bearer ${"a".repeat(10_000)}` },
    ];
    for (const headers of attempts) {
      for (const res of [await submit(app, undefined, headers), await app.request("/tasks", { headers })]) {
        expect(res.status, JSON.stringify(headers).slice(0, 80)).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="edgeq"/);
        expect(await res.json()).toMatchObject({ success: false, code: "unauthorized_error", error: expect.any(String) });
      }
    }
    expect(await storedMessages()).toBe(before);
  });

  test("a token without the route's scope gets 403; with it, the route answers", async () => {
    const app = api();
    const before = await storedMessages();
    const refused = await submit(app, READER);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: "forbidden_error", error: 'this token lacks the "submit" scope' });
    expect(await storedMessages()).toBe(before);
    expect((await app.request("/tasks", { headers: { Authorization: `Bearer ${SUBMITTER}` } })).status).toBe(403);
    expect((await app.request("/workers", { headers: { Authorization: `Bearer ${SUBMITTER}` } })).status).toBe(403);

    const accepted = await submit(app, SUBMITTER);
    expect(accepted.status).toBe(201);
    const { task_id } = await accepted.json();
    expect(await storedMessages()).toBe(before + 1);
    for (const token of [READER, BOTH]) {
      const res = await app.request(`/tasks/${task_id}`, { headers: { Authorization: `bearer  ${token}` } });
      expect(res.status).toBe(200);
      expect((await res.json()).id).toBe(task_id);
    }
    expect((await submit(app, BOTH)).status).toBe(201);
  });

  test("changing dead letters takes the admin scope; reading them, the read scope", async () => {
    const ADMIN = "admin-token-0123456789abcdef";
    const app = createApi(env.edgeq, { onError: () => {}, tokens: parseApiTokens(`${SUBMITTER}:submit,read;${ADMIN}:admin`) });
    const call = (method: string, path: string, token: string) =>
      app.request(path, { method, headers: { Authorization: `Bearer ${token}` } });
    expect((await call("GET", "/dead-letters", SUBMITTER)).status).toBe(200);
    for (const [method, path] of [["DELETE", "/dead-letters"], ["POST", "/dead-letters/requeue"], ["DELETE", "/dead-letters/x"]]) {
      const refused = await call(method, path, SUBMITTER);
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(await refused.json()).toMatchObject({ error: 'this token lacks the "admin" scope' });
    }
    expect(await (await call("DELETE", "/dead-letters", ADMIN)).json()).toMatchObject({ success: true, purged: 0 });
    expect((await call("GET", "/dead-letters", ADMIN)).status).toBe(403);
  });

  test("/health is open; unknown routes need a token too, so they cannot be probed", async () => {
    const app = api();
    expect((await app.request("/health")).status).toBe(200);
    expect((await app.request("/nope")).status).toBe(401);
    expect((await app.request("/nope", { headers: { Authorization: `Bearer ${READER}` } })).status).toBe(404);
  });

  test("EDGEQ_API_TOKENS: a clear format, refused when wrong, never echoing a secret", () => {
    const parsed = tokens();
    expect(parsed.map((t) => [t.label, [...t.scopes]])).toEqual([
      ["token 1", ["read"]],
      ["token 2", ["submit"]],
      ["token 3", ["submit", "read"]],
    ]);
    expect(parseApiTokens("")).toEqual([]);
    const bad: Array<[string, RegExp]> = [
      ["short-secret:read", /entry 1: a token must be 16-256/],
      [`${READER}`, /entry 1: must be <token>:<scope>/],
      [`${READER}:read:submit`, /entry 1: must be <token>:<scope>/],
      [`${READER}:read;${SUBMITTER}:root`, /entry 2: unknown scope "root"/],
      [`${READER}:read;${READER}:submit`, /entry 2: repeats the token of entry 1/],
      [`${"é".repeat(20)}:read`, /entry 1: a token must be/],
    ];
    for (const [spec, message] of bad) {
      let error: Error | undefined;
      try {
        parseApiTokens(spec);
      } catch (err) {
        error = err as Error;
      }
      expect(error?.message, spec).toMatch(message);
      expect(error?.message).not.toContain(READER);
    }
  });

  test("constantTimeEqual compares whole byte strings", () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(constantTimeEqual(bytes("same-secret"), bytes("same-secret"))).toBe(true);
    expect(constantTimeEqual(bytes(""), bytes(""))).toBe(true);
    for (const other of ["same-secreT", "Same-secret", "same-secret\0", "same-secre", "", "same-secret-and-more"]) {
      expect(constantTimeEqual(bytes("same-secret"), bytes(other)), other).toBe(false);
      expect(constantTimeEqual(bytes(other), bytes("same-secret")), other).toBe(false);
    }
  });
});

describe("rate limit", () => {
  test("per token: past the burst a submission gets 429 with Retry-After and a JSON error; other tokens are not affected", async () => {
    const app = api({ rateLimit: { limit: 3, periodMs: 60_000 } });
    for (let i = 0; i < 3; i++) expect((await submit(app, SUBMITTER)).status).toBe(201);
    const before = await storedMessages();
    const limited = await submit(app, SUBMITTER);
    expect(limited.status).toBe(429);
    // One token comes back every 20 s.
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(19);
    expect(Number(limited.headers.get("retry-after"))).toBeLessThanOrEqual(20);
    expect(await limited.json()).toMatchObject({ success: false, code: "rate_limited_error", error: expect.any(String) });
    expect(await storedMessages()).toBe(before);
    expect((await submit(app, BOTH)).status).toBe(201);
    // Reading is not limited.
    for (let i = 0; i < 5; i++) expect((await app.request("/workers", { headers: { Authorization: `Bearer ${READER}` } })).status).toBe(200);
  });

  test("open API: per client address, from the runtime's getter", async () => {
    let address = "10.0.0.1";
    const app = createApi(env.edgeq, { rateLimit: { limit: 1, periodMs: 60_000 }, clientAddress: () => address });
    expect((await submit(app)).status).toBe(201);
    expect((await submit(app)).status).toBe(429);
    address = "10.0.0.2";
    expect((await submit(app)).status).toBe(201);
  });

  test("buckets refill at the configured rate, and memory stays bounded", () => {
    let now = 0;
    const limiter = new RateLimiter({ limit: 2, periodMs: 1000 }, 100, () => now);
    expect([limiter.take("a"), limiter.take("a"), limiter.take("a")]).toEqual([0, 0, 500]);
    now = 499;
    expect(limiter.take("a")).toBe(1);
    now = 1000;
    expect(limiter.take("a")).toBe(0);
    for (let i = 0; i < 1000; i++) limiter.take(`caller ${i}`);
    expect(limiter.size).toBe(100);
    // Idle for a period: refilled, so forgotten.
    now = 2000;
    limiter.take("b");
    expect(limiter.size).toBe(1);
  });

  test("EDGEQ_RATE_LIMIT: <n>/s, <n>/min or off", () => {
    expect(parseRateLimit("100/s")).toEqual({ limit: 100, periodMs: 1000 });
    expect(parseRateLimit(" 600 / min ")).toEqual({ limit: 600, periodMs: 60_000 });
    expect(parseRateLimit("off")).toBeNull();
    expect(parseRateLimit("")).toBeNull();
    for (const bad of ["100", "0/s", "-1/s", "1.5/s", "100/hour", "lots"]) expect(() => parseRateLimit(bad), bad).toThrow(/must be <n>\/s/);
  });
});

describe("edgeq serve", () => {
  const procs: EdgeqProcess[] = [];
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
  });

  async function serve(runtime: Runtime, extra: Record<string, string>) {
    const port = await freePort();
    const proc = runEdgeq(runtime, ["serve"], { NATS_URL: env.server.url, PORT: String(port), ...extra });
    procs.push(proc);
    await proc.waitFor(/API listening/, 60_000);
    await waitForPort(port);
    return { proc, base: `http://127.0.0.1:${port}` };
  }

  test.each<Runtime>(["node", "deno"])("on %s, open: says so loudly, and limits each client address", async (runtime) => {
    const { proc, base } = await serve(runtime, { EDGEQ_RATE_LIMIT: "2/min" });
    await proc.waitFor(/WARNING: the API is OPEN/);
    const post = () => fetch(`${base}/tasks`, { method: "POST", body: '{"type": "process"}' });
    expect([(await post()).status, (await post()).status]).toEqual([201, 201]);
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("with tokens: 401 without one, 201 with one; a bad EDGEQ_API_TOKENS stops it at start-up", async () => {
    const { proc, base } = await serve("node", { EDGEQ_API_TOKENS: `${SUBMITTER}:submit` });
    await proc.waitFor(/needs a bearer token \(1 configured\)/);
    expect(proc.output).not.toMatch(/OPEN/);
    const body = '{"type": "process"}';
    expect((await fetch(`${base}/tasks`, { method: "POST", body })).status).toBe(401);
    const ok = await fetch(`${base}/tasks`, { method: "POST", body, headers: { Authorization: `Bearer ${SUBMITTER}` } });
    expect(ok.status).toBe(201);

    const bad = runEdgeq("node", ["serve"], { NATS_URL: env.server.url, EDGEQ_API_TOKENS: "short:read" });
    procs.push(bad);
    expect(await bad.exited).toBe(1);
    expect(bad.output).toMatch(/EDGEQ_API_TOKENS: entry 1: a token must be/);
  });
});
