/**
 * Fuzzes the HTTP API over a real nats-server: a corpus generated from a fixed seed (so a failure
 * replays) of malformed and truncated JSON, wrong types, huge and deeply nested bodies, prototype
 * keys, invalid UTF-8, unknown fields, odd ids and paths, weird query strings, wrong methods,
 * content types and Authorization headers, on every route (tasks, batches, cancels, queues,
 * schedules, flows, dead letters, the OpenAPI document, metrics, event streams). Whatever comes in: no 5xx, every error is JSON
 * with an `error`, and a refused request stores nothing.
 */
import { beforeAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { parseApiTokens } from "../src/api/auth.ts";
import { FLOWS_BUCKET, TASKS_BUCKET, WORK_STREAM } from "../src/wire/names.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const TOKEN = "fuzz-token-0123456789abcdef";
const GENERATED = 4000;
let app: ReturnType<typeof createApi>;
const unexpected: unknown[] = [];

beforeAll(() => {
  app = createApi(env.edgeq, { tokens: parseApiTokens(`${TOKEN}:submit,read,admin`), onError: (err) => unexpected.push(err) });
});

type BodyKind = "task" | "batch" | "cancel" | "requeue" | "schedule" | "flow" | "none";
/** A route: its method, its path (`:id`, `:queue`, `:name`, `:query` are filled with odd values), what body it takes. */
type Route = [method: string, path: string, body: BodyKind];

/** Every route of the API, one line each: a new route is fuzzed by adding its line. */
const ROUTES: Route[] = [
  ["POST", "/tasks", "task"],
  ["POST", "/tasks/batch", "batch"],
  ["GET", "/tasks?:query", "none"],
  ["GET", "/tasks/:id", "none"],
  ["POST", "/tasks/:id/cancel", "cancel"],
  ["POST", "/tasks/cancel", "cancel"],
  ["GET", "/queues", "none"],
  ["POST", "/queues/:queue/pause", "none"],
  ["POST", "/queues/:queue/resume", "none"],
  ["GET", "/workers", "none"],
  ["GET", "/health", "none"],
  ["GET", "/openapi.json", "none"],
  ["GET", "/dead-letters?:query", "none"],
  ["GET", "/dead-letters/:id", "none"],
  ["DELETE", "/dead-letters/:id", "none"],
  ["DELETE", "/dead-letters?:query", "none"],
  ["POST", "/dead-letters/:id/requeue", "requeue"],
  ["POST", "/dead-letters/requeue", "requeue"],
  ["POST", "/schedules", "schedule"],
  ["GET", "/schedules", "none"],
  ["GET", "/schedules/:name", "none"],
  ["DELETE", "/schedules/:name", "none"],
  ["POST", "/schedules/:name/pause", "none"],
  ["POST", "/schedules/:name/resume", "none"],
  ["POST", "/flows", "flow"],
  ["GET", "/dashboard", "none"],
  ["GET", "/dashboard/dashboard.js", "none"],
  ["GET", "/dashboard/dashboard.css", "none"],
  ["GET", "/metrics?:query", "none"],
  // always one unknown key: a valid query streams for as long as the client listens
  ["GET", "/events?x&:query", "none"],
];

interface Input {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
}

/** mulberry32: small, fast and good enough to pick test inputs. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick };
}

const WEIRD_STRINGS = [
  "", " ", "process", "a.b", "a..b", ".a", "a.", ">", "*", "a.>", "a b", "\u0000", "\n", "é", "😀", "\ud800", "../..", "%2F",
  "__proto__", "constructor", "prototype", "toString", "null", "1e309", "-0", "<script>", "a".repeat(129), "x".repeat(70_000),
];
const WEIRD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, [], {}, [1, "a"], { a: { b: { c: 1 } } }, ...WEIRD_STRINGS,
];
const FIELDS = ["type", "data", "priority", "queue", "max_attempts", "id", "backoff", "timeout_ms", "idempotency_key", "delay_ms", "run_at"];
const CRONS = ["* * * * *", "*/5 * * * * *", "0 9 * * 1-5", "every day", "", "* * *", "61 * * * *", "0 0 31 2 *", "@daily", "* * * * * * *"];
const ZONES = ["UTC", "Europe/Berlin", "Mars/Base", "", "utc", "+02:00"];
const BACKOFFS = ["exponential", "exponential:10:100", "fixed:0", "list:1,2,3", "fixed", "list:", "exponential:5:1", "fixed:-1", "list:a", "x:1"];
const PROTO_KEYS = ["__proto__", "constructor", "prototype"];

function generate(seed: number, count: number): Input[] {
  const r = prng(seed);
  const auth = () => ({ Authorization: `Bearer ${TOKEN}` });
  const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
  const validBody = () => ({
    type: r.pick(["process", "email.send", "a-b_c"]),
    data: r.pick(WEIRD_VALUES),
    ...(r.next() < 0.3 && { priority: r.pick(["high", "normal", "low"]) }),
    ...(r.next() < 0.2 && { queue: r.pick(["default", "images"]) }),
    ...(r.next() < 0.2 && { max_attempts: r.pick([1, 3, 1000]) }),
    ...(r.next() < 0.2 && { backoff: r.pick(BACKOFFS) }),
    ...(r.next() < 0.2 && { timeout_ms: r.pick([1, 1000, 0, -5, 1e12, 1.5]) }),
    ...(r.next() < 0.1 && { idempotency_key: r.pick(WEIRD_STRINGS) }),
    ...(r.next() < 0.1 && { delay_ms: r.pick([0, 10, 60_000, -1, 1.5, 1e15]) }),
    ...(r.next() < 0.05 && { run_at: r.pick(["2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "tomorrow", "2030-01-01", ""]) }),
  });
  const bodies: Array<() => string | Uint8Array<ArrayBuffer>> = [
    () => JSON.stringify(validBody()),
    // truncated
    () => {
      const text = JSON.stringify(validBody());
      return text.slice(0, r.int(text.length));
    },
    // a byte changed
    () => {
      const text = JSON.stringify(validBody());
      const i = r.int(text.length);
      return text.slice(0, i) + String.fromCharCode(r.int(128)) + text.slice(i + 1);
    },
    // wrong types and weird values in known fields
    () => JSON.stringify({ ...validBody(), [r.pick(FIELDS)]: r.pick(WEIRD_VALUES) }),
    // unknown fields
    () => JSON.stringify({ ...validBody(), [r.pick(["typ", "Type", "extra", "priorty", "", " type"])]: r.pick(WEIRD_VALUES) }),
    // prototype keys, at the top or inside data
    () => `{"type": "process", "${r.pick(PROTO_KEYS)}": ${JSON.stringify(r.pick(WEIRD_VALUES))}}`,
    () => `{"type": "process", "data": {"${r.pick(PROTO_KEYS)}": {"polluted": true}}}`,
    () => `{"${r.pick(PROTO_KEYS)}": {"type": "process"}}`,
    // duplicate keys: the last one wins in JSON.parse
    () => `{"type": "process", "type": ${JSON.stringify(r.pick(WEIRD_VALUES))}}`,
    // not an object
    () => JSON.stringify(r.pick(WEIRD_VALUES)),
    // deep nesting, in data and as the whole body
    () => `{"type": "process", "data": ${deep(1 + r.int(200_000))}}`,
    () => deep(1 + r.int(200_000)),
    () => `{"type": "process", "data": ${"{\"a\":".repeat(5000)}1${"}".repeat(5000)}}`,
    // huge strings and bodies, around the 1 MiB limit
    () => JSON.stringify({ type: "process", data: "a".repeat(r.pick([1000, 500_000, 1024 * 1024 - 200, 1024 * 1024 + 5])) }),
    () => JSON.stringify({ type: "t".repeat(r.pick([128, 129, 100_000])) }),
    // invalid UTF-8 and other raw bytes
    () => {
      const text = new TextEncoder().encode(JSON.stringify(validBody()));
      const bytes = new Uint8Array(text.length + 4);
      bytes.set(text);
      const at = r.int(text.length);
      bytes.set(r.pick([[0xff, 0xfe], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80], [0xe2, 0x82]]), at);
      return bytes;
    },
    () => Uint8Array.from({ length: r.int(2000) }, () => r.int(256)),
    () => `\ufeff${JSON.stringify(validBody())}`,
    () => r.pick(["", " ", "\n", "{", "}", "{}", "[]", "nul", "NaN", "Infinity", "{\"type\": NaN}", "{'type': 'process'}", "{\"type\": \"process\",}"]),
  ];
  const ids = [
    "..%2F..", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "..", ".", "%00", "%", "%zz", "%E0%A4%A", "a%2Fb", "a.b", "a*b", "a>b", "%20",
    "%F0%9F%98%80", "x".repeat(129), "x".repeat(5000), "__proto__", "constructor", "a=b", "-", "_", "seq-1", "%5C..%5C", "a;b", "a%0Ab",
  ];
  const queryValues = ["", "0", "1", "-1", "1e3", "0x10", "1.5", "abc", "999999999999999999999", "%", "%zz", "__proto__", "processing",
    "completed", "failed", "pending", "running", "constructor", "a".repeat(10_000)];
  const query = () =>
    Array.from({ length: 1 + r.int(4) }, () =>
      `${r.pick(["limit", "status", "queue", "status[]", "limit[]", "__proto__", "constructor", "x", "", "%"])}${r.next() < 0.9 ? `=${r.pick(queryValues)}` : ""}`
    ).join(r.pick(["&", "&&", ";"]));
  const contentTypes = [
    "application/json", "application/json; charset=utf-8", "application/json; charset=utf-16", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=--x", "multipart/form-data", "application/xml", "",
  ];
  const authHeaders = [
    "", "Bearer", "Bearer ", `Bearer ${TOKEN} extra`, `Bearer ${TOKEN.toUpperCase()}`, `Basic ${TOKEN}`, `Bearer ${TOKEN}\t`,
    `Bearer ${TOKEN.slice(0, 10)}`, `Bearer ${"x".repeat(5000)}`, `Bearer ${TOKEN},${TOKEN}`, `Token ${TOKEN}`, `Bearer é${TOKEN}`,
  ];

  const contentType = (): Record<string, string> => {
    const ct = r.pick(contentTypes);
    return ct ? { "Content-Type": ct } : {};
  };
  /** What each kind of route takes as a body (or, for `none`, is sent now and then anyway). */
  const BODIES: Record<BodyKind, () => Input["body"]> = {
    task: () => r.pick(bodies)(),
    batch: () => (r.next() < 0.5 ? JSON.stringify(Array.from({ length: r.int(4) }, () => validBody())) : r.pick(bodies)()),
    cancel: () =>
      r.next() < 0.7
        ? JSON.stringify({ [r.pick(["reason", "queue", "type", "status", "limit", "x"])]: r.pick([...WEIRD_VALUES, "pending", "running"]) })
        : r.next() < 0.5 ? r.pick(bodies)() : undefined,
    requeue: () =>
      r.next() < 0.7 ? r.pick([JSON.stringify({ [r.pick(["max_attempts", "queue", "x"])]: r.pick(WEIRD_VALUES) }), ...bodies.map((b) => b())]) : undefined,
    schedule: () =>
      r.next() < 0.7
        ? JSON.stringify({ name: r.pick(["nightly", "a b", "", "x".repeat(65), "__proto__"]), cron: r.pick(CRONS), tz: r.pick(ZONES), ...validBody() })
        : r.pick(bodies)(),
    // nodes and edges, nested children, cycles, unknown ids, odd fields
    flow: () => {
      const nodeIds = ["a", "b", "c", ...ids.slice(0, 4)];
      const node = () => ({
        ...validBody(),
        id: r.pick(nodeIds),
        ...(r.next() < 0.3 && { depends_on: r.next() < 0.5 ? [r.pick(nodeIds)] : r.pick(WEIRD_VALUES) }),
        ...(r.next() < 0.2 && { run_anyway: r.pick([true, false, ...WEIRD_VALUES]) }),
      });
      const flows = [
        () => ({ nodes: Array.from({ length: r.int(4) }, node), edges: Array.from({ length: r.int(3) }, () => ({ from: r.pick(nodeIds), to: r.pick(nodeIds) })) }),
        () => ({ ...validBody(), children: Array.from({ length: r.int(3) }, () => (r.next() < 0.8 ? { ...validBody(), children: [] } : r.pick(WEIRD_VALUES))) }),
        () => ({ nodes: r.pick(WEIRD_VALUES), edges: r.pick(WEIRD_VALUES) }),
        // depends_on on a plain task
        () => ({ ...validBody(), depends_on: r.next() < 0.5 ? [r.pick(nodeIds)] : r.pick(WEIRD_VALUES) }),
      ];
      return r.next() < 0.8 ? JSON.stringify(r.pick(flows)()) : r.pick(bodies)();
    },
    none: () => (r.next() < 0.2 ? r.pick(bodies)() : undefined),
  };
  const fill = (path: string) =>
    path
      .replace(":id", () => r.pick(ids))
      .replace(":queue", () => r.pick([...ids, "default", "images"]))
      .replace(":name", () => r.pick([...ids, "nightly"]))
      .replace(":query", () => query());
  const routeInput = ([method, path, body]: Route): Input => {
    const headers: Record<string, string> = path === "/openapi.json" || path === "/health" ? {} : auth();
    if (body === "task") {
      Object.assign(headers, contentType());
      if (r.next() < 0.1) headers["Idempotency-Key"] = r.pick(["k", "", "a".repeat(300), "é", "key with spaces"]);
    }
    return { method, path: fill(path), headers, body: method === "GET" || method === "HEAD" ? undefined : BODIES[body]() };
  };

  const kinds: Array<() => Input> = [
    // every route, odd parameters and bodies, weighted as one kind each
    ...ROUTES.map((route) => () => routeInput(route)),
    // wrong methods and paths
    () => {
      // (TRACE and CONNECT cannot even be built as a Request; GET and HEAD cannot carry a body.)
      const method = r.pick(["PUT", "DELETE", "PATCH", "OPTIONS", "POST", "GET", "HEAD", "PROPFIND"]);
      return {
        method,
        path: r.pick(["/tasks", "/tasks/x", "/health", "/workers", "/", "//tasks", "/tasks/", "/TASKS", "/tasks/x/y", "/%2e%2e/health"]),
        headers: auth(),
        body: r.next() < 0.5 && !["GET", "HEAD"].includes(method) ? JSON.stringify(validBody()) : undefined,
      };
    },
    // odd Authorization headers
    () => ({
      method: r.pick(["GET", "POST"]),
      path: r.pick(["/tasks", "/workers", "/tasks/x"]),
      headers: { Authorization: r.pick(authHeaders) },
      body: undefined,
    }),
  ];
  // POST /tasks, the door most traffic takes, gets as many inputs as all the others together.
  kinds.push(...kinds.map(() => () => routeInput(ROUTES[0])));
  return Array.from({ length: count }, () => r.pick(kinds)());
}

/** Stored writes so far: work messages and task records. */
/** Stored writes so far: work messages, and task records or dependency links (flows). */
async function writes(): Promise<{ work: number; records: number }> {
  const [work, records, links] = await Promise.all([
    env.edgeq.jsm.streams.info(WORK_STREAM),
    env.edgeq.jsm.streams.info(`KV_${TASKS_BUCKET}`),
    env.edgeq.jsm.streams.info(`KV_${FLOWS_BUCKET}`),
  ]);
  return { work: work.state.last_seq, records: records.state.last_seq + links.state.last_seq };
}

/** How many tasks a submission's body holds: an array's length, a flow's nodes, else 1. */
function tasksIn(body: Input["body"]): number {
  const count = (node: { children?: unknown[] }): number => 1 + (node.children ?? []).reduce((n: number, c) => n + count(c as object), 0);
  try {
    const parsed = JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body));
    return Array.isArray(parsed) ? parsed.length : Array.isArray(parsed?.nodes) ? parsed.nodes.length : count(parsed);
  } catch {
    return 1;
  }
}

function describeInput(input: Input): string {
  const body = input.body === undefined ? "" : typeof input.body === "string" ? input.body : `bytes ${[...input.body.slice(0, 40)]}`;
  return `${input.method} ${input.path.slice(0, 120)} ${JSON.stringify(input.headers).slice(0, 120)} ${body.slice(0, 120)}`;
}

test("the corpus has a line for every route the app serves", () => {
  const params = (path: string) => path.replace(/\?.*$/, "").replace(/:\w+/g, ":param");
  const served = app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${params(r.path)}`);
  const fuzzed = ROUTES.map(([method, path]) => `${method} ${params(path)}`);
  expect([...new Set(fuzzed)].sort()).toEqual([...new Set(served)].sort());
});

test(`the API survives ${GENERATED} generated inputs: no 5xx, JSON errors, nothing stored when refused`, async () => {
  const inputs = generate(0xed6e0, GENERATED);
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  let before = await writes();
  for (const input of inputs) {
    const res = await app.request(input.path, { method: input.method, headers: input.headers, body: input.body });
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const text = await res.text();
    const after = await writes();
    const where = describeInput(input);
    if (res.status >= 500) problems.push(`${res.status} for ${where}: ${text.slice(0, 200)}`);
    if (res.status >= 400 && input.method !== "HEAD") {
      let body: { success?: unknown; error?: unknown } | undefined;
      try {
        body = JSON.parse(text);
      } catch {
        // reported below
      }
      if (!/application\/json/.test(res.headers.get("content-type") ?? "") || typeof body?.error !== "string" || body.success !== false) {
        problems.push(`not a JSON error (${res.status}) for ${where}: ${text.slice(0, 200)}`);
      }
      if (/\bat .*\.[jt]s:\d+|node_modules|\/src\//.test(text)) problems.push(`internals shown for ${where}: ${text.slice(0, 200)}`);
    }
    // Accepted, a submission stores at most its tasks; a cancel writes its record; nothing else stores anything.
    const stored = after.work - before.work;
    const recorded = after.records !== before.records;
    const maxStored = res.status === 201 ? tasksIn(input.body) : 0;
    const mayRecord = res.status === 201 || (res.status === 200 && /\/cancel$/.test(input.path));
    if (stored > maxStored || (recorded && !mayRecord)) {
      problems.push(`${res.status} stored ${stored} messages and ${after.records - before.records} records for ${where}`);
    }
    before = after;
  }
  console.log(
    `fuzz: ${inputs.length} inputs tried; answers ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(", ")}`,
  );
  expect(problems.slice(0, 10)).toEqual([]);
  expect(unexpected).toEqual([]);
  // Every kind of answer was reached, so the corpus really exercises each path.
  for (const status of [200, 201, 400, 401, 404, 413]) expect(statuses.get(status), `answers ${status}`).toBeGreaterThan(0);

  // Still serving.
  const res = await app.request("/tasks", {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}` },
    body: '{"type": "process", "data": "after the fuzz"}',
  });
  expect(res.status).toBe(201);
  expect((await app.request("/health")).status).toBe(200);
}, 600_000);
