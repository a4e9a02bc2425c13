/**
 * The HTTP API, a Hono app that any runtime can serve. Paths and snake_case fields follow the Flask
 * tutorial edgeq grew from, so its curl commands work unchanged. Every input is validated with zod;
 * every error is JSON from `onError`, the one place that maps errors to statuses.
 */
import { type Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { type ApiToken, authenticate, requiredScope } from "./auth.ts";
import type { Edgeq, Submitted } from "../client/mod.ts";
import { parseInput } from "../nats/mod.ts";
import {
  DEFAULT_QUEUE,
  EdgeqError,
  fromNatsError,
  idempotencyKeySchema,
  idSchema,
  NotFoundError,
  queueSchema,
  RateLimitedError,
  UnauthorizedError,
  UnavailableError,
  withRequestContext,
} from "../wire/mod.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { deadLetterRoutes } from "./dead-letters.ts";
import { eventRoutes } from "./events.ts";
import { metricsRoutes } from "./metrics.ts";
import { batchSchema, cancelManySchema, cancelSchema, listQuerySchema, optionsOf, submitBodySchema } from "./schemas.ts";
import { openApiDocument } from "./openapi.ts";
import { scheduleRoutes } from "./schedules.ts";
import { limitBody, parseJson } from "./http-input.ts";
import { limitTime } from "./time-limit.ts";
import { ROUTE_TIMEOUT_MS } from "./limits.ts";
import { flowRoutes } from "./flows.ts";
import { type RateLimit, RateLimiter } from "./rate-limit.ts";

export interface ApiOptions {
  /** Reported as `gateway` by /health, as the tutorial's gateway did. */
  gateway?: string;
  /** Largest accepted request body; default 1 MiB. */
  bodyLimitBytes?: number;
  /** Where unexpected errors are logged; they reach clients only as "internal error". */
  onError?: (err: unknown) => void;
  /** Bearer tokens accepted (see auth.ts); none or empty: the API is open to anyone who can reach it. */
  tokens?: readonly ApiToken[];
  /** Submissions allowed per caller (see rate-limit.ts); none: no limit. */
  rateLimit?: RateLimit | null;
  /** The client's address as the runtime's server saw it; keys the rate limit when the API is open. */
  clientAddress?: (c: Context) => string | undefined;
  /** How long a route may take before it is answered 503; default ROUTE_TIMEOUT_MS. Streaming routes are exempt. */
  routeTimeoutMs?: number;
  /** How often `GET /events` sends a comment line on an idle stream; default 15 s. */
  eventsHeartbeatMs?: number;
}

/** Routes that stream for as long as the client listens: no route time-out applies to them. */
const STREAMING_PATHS = ["/events"];

/** What a submission is answered with, in the tutorial's fields. */
function answer(task: Submitted) {
  return {
    task_id: task.id,
    message: task.duplicate ? "Task already submitted" : "Task submitted successfully",
    status: task.waiting ? "waiting" : task.runAt ? "delayed" : "pending",
    ...(task.runAt && { run_at: task.runAt }),
    type: task.type,
    queue: task.queue,
    priority: task.priority,
    duplicate: task.duplicate,
  };
}

/** The API's version in its OpenAPI document: the package's. */
const API_VERSION = "0.1.0";

/** `caller` names who sent the request: a token's label, or the client's address when the API is open. */
type ApiEnv = { Variables: { caller: string } };

export function createApi(edgeq: Edgeq, options: ApiOptions = {}): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const maxSize = options.bodyLimitBytes ?? 1024 * 1024;
  const logError = options.onError ?? console.error;
  const tokens = options.tokens ?? [];
  const limiter = options.rateLimit ? new RateLimiter(options.rateLimit) : null;

  // First, so that every route, /health included, answers within its time.
  app.use("*", limitTime(options.routeTimeoutMs ?? ROUTE_TIMEOUT_MS, STREAMING_PATHS));

  app.get("/health", async (c) => {
    const health = await edgeq.health();
    return c.json({ ...health, gateway: options.gateway ?? "edgeq" }, health.status === "healthy" ? 200 : 503);
  });

  // Open as /health is: it says what the API takes, nothing of what it holds.
  let described: object | undefined;
  app.get("/openapi.json", (c) => c.json(described ??= openApiDocument(API_VERSION)));
  app.route("/dashboard", dashboardRoutes());

  // Every route below needs a token when tokens are configured; unknown routes too, so that they cannot be probed.
  app.use("*", async (c, next) => {
    const caller = tokens.length
      ? authenticate(c.req.header("Authorization"), tokens, requiredScope(c.req.method, c.req.path)).label
      : `address ${options.clientAddress?.(c) ?? "unknown"}`;
    c.set("caller", caller);
    await next();
  });

  // Every body, on every route, is refused past the limit before it is read.
  app.use("*", limitBody(maxSize));

  // Below this point every route needs NATS: refuse at once while it is down rather than time out.
  app.use("*", async (_c, next) => {
    edgeq.assertConnected();
    await next();
  });

  const limitRate = async (c: Context<ApiEnv>, next: () => Promise<void>) => {
    const waitMs = limiter?.take(c.get("caller")) ?? 0;
    if (waitMs > 0) throw new RateLimitedError("too many submissions; retry later", Math.ceil(waitMs / 1000));
    await next();
  };

  /** Submits a batch: validated whole before any is published, each queue's tasks in one `submitMany`. */
  const submitBatch = (c: Context<ApiEnv>, items: unknown) => withRequestContext(headerOf(c), async () => {
    const tasks = parseInput(batchSchema, items, "tasks");
    const answers = new Array<ReturnType<typeof answer>>(tasks.length);
    // Tasks that wait on others (in the batch or before it) are submitted as one flow.
    if (tasks.some((t) => t.depends_on)) {
      const submitted = await edgeq.flows.submitTasks(DEFAULT_QUEUE, tasks.map((t) => ({ ...optionsOf(t), type: t.type, data: t.data, queue: t.queue })));
      return c.json({ success: true, accepted: submitted.filter((s) => !s.duplicate).length, tasks: submitted.map(answer) }, 201);
    }
    const byQueue = new Map<string, number[]>();
    tasks.forEach((task, i) => {
      const name = task.queue ?? DEFAULT_QUEUE;
      const indexes = byQueue.get(name);
      if (indexes) indexes.push(i);
      else byQueue.set(name, [i]);
    });
    for (const [name, indexes] of byQueue) {
      const submitted = await edgeq.queue(name).submitMany(indexes.map((i) => ({ type: tasks[i].type, data: tasks[i].data, ...optionsOf(tasks[i]) })));
      indexes.forEach((i, k) => (answers[i] = answer(submitted[k])));
    }
    return c.json({ success: true, accepted: answers.filter((a) => !a.duplicate).length, tasks: answers }, 201);
  });

  app.post("/tasks", limitRate, async (c) => {
    const input = parseJson(await c.req.text());
    // An array is a batch, as `POST /tasks/batch` takes it.
    if (Array.isArray(input)) return submitBatch(c, input);
    const body = parseInput(submitBodySchema, input, "task");
    const headerKey = c.req.header("Idempotency-Key");
    const idempotencyKey = body.idempotency_key ?? (headerKey === undefined ? undefined : parseInput(idempotencyKeySchema, headerKey, "Idempotency-Key header"));
    const submitOptions = { ...optionsOf(body), idempotencyKey };
    const task = await withRequestContext(headerOf(c), () => edgeq.queue(body.queue).submit(body.type, body.data, submitOptions));
    // A repeat is answered as the first submission was, so that a client's retry needs no special case.
    return c.json({ success: true, ...answer(task) }, 201);
  });

  app.post("/tasks/batch", limitRate, async (c) => submitBatch(c, parseJson(await c.req.text())));

  app.get("/tasks", async (c) => {
    const query = parseInput(listQuerySchema, c.req.query(), "query");
    const { tasks, next_cursor } = await edgeq.tasks.page(query);
    return c.json({ tasks, count: tasks.length, next_cursor });
  });

  app.get("/tasks/:id", async (c) => {
    const id = parseInput(idSchema, c.req.param("id"), "task id");
    const task = await edgeq.tasks.get(id);
    if (!task) throw new NotFoundError(`task ${id} not found`);
    return c.json(task);
  });

  app.post("/tasks/cancel", async (c) => {
    const filter = parseInput(cancelManySchema, parseJson(await c.req.text(), { optional: true }), "cancel");
    return c.json({ success: true, canceled: await edgeq.tasks.cancelMany(filter) });
  });

  app.post("/tasks/:id/cancel", async (c) => {
    const id = parseInput(idSchema, c.req.param("id"), "task id");
    const { reason } = parseInput(cancelSchema, parseJson(await c.req.text(), { optional: true }), "cancel");
    const task = await edgeq.tasks.cancel(id, reason);
    return c.json({ success: true, task_id: id, status: task.status, task });
  });

  app.get("/queues", async (c) => {
    const queues = await edgeq.queues.list();
    return c.json({ queues, count: queues.length });
  });

  for (const action of ["pause", "resume"] as const) {
    app.post(`/queues/:name/${action}`, async (c) => {
      const name = parseInput(queueSchema, c.req.param("name"), "queue name");
      const state = await edgeq.queues[action](name);
      return c.json({ success: true, queue: name, paused: state.paused, paused_at: state.paused_at ?? null });
    });
  }

  app.get("/workers", async (c) => {
    const workers = await edgeq.workers();
    return c.json({ workers, count: workers.length });
  });

  app.route("/dead-letters", deadLetterRoutes(edgeq));
  app.route("/schedules", scheduleRoutes(edgeq));
  app.route("/events", eventRoutes(edgeq, options.eventsHeartbeatMs));
  app.route("/metrics", metricsRoutes(edgeq));
  app.use("/flows", limitRate);
  app.route("/flows", flowRoutes(edgeq, answer));

  app.notFound((c) => {
    throw new NotFoundError(`no route for ${c.req.method} ${c.req.path}`);
  });

  app.onError((raw, c) => {
    const err = fromNatsError(raw);
    // Known errors are answers; anything else is a bug or an unexpected server reply, logged and hidden.
    const known = err instanceof EdgeqError && err.status !== 500;
    if (!known) logError(raw);
    const status = (known ? err.status : 500) as ContentfulStatusCode;
    if (status === 503 || status === 429 || status === 507) {
      c.header("Retry-After", err instanceof RateLimitedError ? String(err.retryAfterSeconds) : "1");
    }
    if (err instanceof UnauthorizedError) c.header("WWW-Authenticate", 'Bearer realm="edgeq"');
    const message = known ? err.message : "internal error";
    const taskId = err instanceof UnavailableError && err.taskId ? { task_id: err.taskId } : {};
    return c.json({ success: false, error: message, code: known ? snake(err.name) : "internal_error", ...taskId }, status);
  });

  return app;
}

/** Reads one request header: a trace context is looked for only when tracing is on. */
const headerOf = (c: Context) => (name: string) => c.req.header(name);

/** ValidationError → validation_error: a stable machine-readable code. */
function snake(name: string): string {
  return name.replace(/Error$/, "_error").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
