/**
 * GET /openapi.json checked by a real OpenAPI 3.1 validator (@seriousme/openapi-schema-validator),
 * then every documented operation called against a real nats-server and worker, its answer checked
 * against the schema the document gives for its status (JSON Schema 2020-12, with formats); an
 * operation the test does not call fails it, so a new route needs a check.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import type { Worker } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats({ backoff: "fixed:10" });
const QUEUE = "oa";
let worker: Worker;
beforeAll(async () => {
  worker = await env.edgeq.worker({ ok: (data) => data, bad: () => { throw new Error("on purpose"); } }, { queues: [QUEUE], heartbeatIntervalMs: 200 });
});
afterAll(() => worker?.stop(0));

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: object }> }> }>> };
let doc: Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const called = new Set<string>();

/** The answer's body: JSON parsed; text as it is; of an event stream, its first chunk (it does not end). */
async function bodyOf(res: Response, mediaType: string): Promise<unknown> {
  if (mediaType === "application/json") return res.json();
  if (mediaType !== "text/event-stream") return res.text();
  const reader = res.body!.getReader();
  const first = await reader.read();
  await reader.cancel();
  return new TextDecoder().decode(first.value);
}

/**
 * Calls `method path` and checks the answer against what the document says of `template` for its
 * status: the media type, and the body against that media type's schema.
 */
async function call(method: string, template: string, path = template, body?: unknown) {
  const res = await createApi(env.edgeq).request(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
  const operation = doc.paths[template]?.[method.toLowerCase()];
  expect(operation, `${method} ${template} is documented`).toBeDefined();
  const documented = operation.responses[String(res.status)] ?? operation.responses[`${String(res.status)[0]}XX`];
  expect(documented, `${method} ${template} documents status ${res.status}`).toBeDefined();
  expect(Object.keys(documented.content), `${method} ${path} → ${res.status} ${mediaType}`).toContain(mediaType);
  const answer = await bodyOf(res, mediaType);
  const validate = ajv.compile(documented.content[mediaType].schema);
  expect(validate(answer) ? [] : validate.errors, `${method} ${path} → ${res.status} ${JSON.stringify(answer).slice(0, 500)}`).toEqual([]);
  if (res.status < 300) called.add(`${method.toLowerCase()} ${template}`);
  return { status: res.status, body: answer as Record<string, any> };
}

test("the document is valid OpenAPI 3.1", async () => {
  doc = await (await createApi(env.edgeq).request("/openapi.json")).json();
  const validator = new Validator();
  const result = await validator.validate(doc as unknown as Parameters<Validator["validate"]>[0]);
  expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe("3.1");
});

test("every documented operation answers as its schema says, errors included", async () => {
  await call("GET", "/health");
  await call("GET", "/openapi.json");

  const one = await call("POST", "/tasks", "/tasks", { type: "ok", queue: QUEUE, data: { n: 1 } });
  expect(one.status).toBe(201);
  expect((await call("POST", "/tasks", "/tasks", [{ type: "ok", queue: QUEUE }])).body.accepted).toBe(1);
  const batch = await call("POST", "/tasks/batch", "/tasks/batch", [{ type: "ok", queue: QUEUE }, { type: "ok", queue: QUEUE, priority: "high" }]);
  expect(batch.status).toBe(201);
  await env.edgeq.tasks.waitFor(one.body.task_id, 10_000);
  await call("GET", "/tasks/{id}", `/tasks/${one.body.task_id}`);
  // A page of finished tasks and one pending (delayed) with its cursor.
  const later = await call("POST", "/tasks", "/tasks", { type: "ok", queue: QUEUE, delay_ms: 600_000 });
  expect(later.body.status).toBe("delayed");
  expect((await call("GET", "/tasks", `/tasks?queue=${QUEUE}&limit=2`)).body.next_cursor).toEqual(expect.any(String));
  await call("GET", "/tasks", `/tasks?queue=${QUEUE}&status=delayed`);
  await call("POST", "/tasks/{id}/cancel", `/tasks/${later.body.task_id}/cancel`, { reason: "not needed" });
  await call("POST", "/tasks/cancel", "/tasks/cancel", { queue: "oa-idle" });

  await call("GET", "/queues");
  await call("POST", "/queues/{name}/pause", "/queues/oa-idle/pause");
  await call("POST", "/queues/{name}/resume", "/queues/oa-idle/resume");
  await eventually(async () => (await env.edgeq.workers()).length > 0, 5000, "the worker's heartbeat");
  await call("GET", "/workers");

  expect((await call("POST", "/schedules", "/schedules", { name: "nightly", cron: "0 3 * * *", type: "ok", queue: QUEUE })).status).toBe(201);
  await call("GET", "/schedules");
  await call("GET", "/schedules/{name}", "/schedules/nightly");
  await call("POST", "/schedules/{name}/pause", "/schedules/nightly/pause");
  await call("POST", "/schedules/{name}/resume", "/schedules/nightly/resume");
  await call("DELETE", "/schedules/{name}", "/schedules/nightly");

  const bad = await call("POST", "/tasks", "/tasks", { type: "bad", queue: QUEUE, max_attempts: 1 });
  const dead = async () => (await env.edgeq.tasks.waitFor(bad.body.task_id, 10_000))?.status === "dead" && (await env.edgeq.deadLetters.count()) === 1;
  await eventually(dead, 10_000, "the dead letter");
  await call("GET", "/dead-letters", `/dead-letters?queue=${QUEUE}`);
  await call("GET", "/dead-letters/{id}", `/dead-letters/${bad.body.task_id}`);
  await call("POST", "/dead-letters/{id}/requeue", `/dead-letters/${bad.body.task_id}/requeue`, {});
  await eventually(dead, 10_000, "the dead letter again");
  await call("POST", "/dead-letters/requeue", "/dead-letters/requeue", { queue: QUEUE });
  await eventually(dead, 10_000, "the dead letter a third time");
  await call("DELETE", "/dead-letters/{id}", `/dead-letters/${bad.body.task_id}`);
  await call("DELETE", "/dead-letters", `/dead-letters?queue=${QUEUE}`);

  // A flow: a parent, and a child that waits on it (its answer says waiting).
  const flow = await call("POST", "/flows", "/flows", { nodes: [{ id: "oa-p", type: "ok", queue: QUEUE }, { id: "oa-c", type: "ok", queue: QUEUE }], edges: [{ from: "oa-p", to: "oa-c" }] });
  expect(flow.status).toBe(201);
  await env.edgeq.tasks.waitFor("oa-c", 10_000);
  await call("GET", "/metrics");
  await call("GET", "/events", `/events?queue=${QUEUE}`);
  await call("GET", "/dashboard");
  await call("GET", "/dashboard/dashboard.js");
  await call("GET", "/dashboard/dashboard.css");

  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
  expect([...called].sort()).toEqual(documented.sort());

  // Errors answer in the documented error shape.
  expect((await call("GET", "/tasks/{id}", "/tasks/no-such-task")).status).toBe(404);
  expect((await call("GET", "/tasks", "/tasks?queu=oa")).status).toBe(400);
  expect((await call("POST", "/tasks", "/tasks", { type: "ok", extra: 1 })).status).toBe(400);
  expect((await call("GET", "/schedules/{name}", "/schedules/none")).status).toBe(404);
  expect((await call("POST", "/tasks/{id}/cancel", `/tasks/${one.body.task_id}/cancel`)).status).toBe(409);
});
