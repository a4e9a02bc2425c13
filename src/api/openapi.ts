/**
 * The HTTP API described as OpenAPI 3.1 (`GET /openapi.json`), its request bodies and queries
 * generated from the same zod schemas the routes parse with, so the two cannot drift apart; its
 * answers from responses.ts, which test/openapi.test.ts checks every route's answer against.
 */
import { z } from "zod";
import { scheduleSchema } from "../delayed/mod.ts";
import { flowSchema } from "../flows/mod.ts";
import { deadLetterListSchema, purgeQuerySchema, requeueAllSchema, requeueOneSchema } from "./dead-letters.ts";
import { eventsQuerySchema } from "./events.ts";
import { batchSchema, cancelManySchema, cancelSchema, listQuerySchema, submitBodySchema } from "./schemas.ts";
import {
  batchAnswerSchema,
  cancelAnswerSchema,
  cancelManyAnswerSchema,
  deadLetterSchema,
  deadLettersSchema,
  errorSchema,
  flowAnswerSchema,
  healthSchema,
  openApiSchema,
  purgedAllSchema,
  purgedOneSchema,
  queuesSchema,
  queueStateAnswerSchema,
  requeuedAllSchema,
  requeuedOneSchema,
  scheduleAnswerSchema,
  scheduleDeletedSchema,
  scheduleRecordSchema,
  schedulesSchema,
  submitAnswerSchema,
  taskPageSchema,
  taskRecordSchema,
  workersSchema,
} from "./responses.ts";

type Schema = z.ZodType;

const json = (schema: Schema, io: "input" | "output" = "input") => z.toJSONSchema(schema, { io, unrepresentable: "any" });
const body = (schema: Schema, required = true) => ({ required, content: { "application/json": { schema: json(schema) } } });
/** The query parameters of an object schema. */
function query(schema: Schema) {
  const { properties = {}, required = [] } = json(schema) as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(properties).map(([name, s]) => ({ name, in: "query", required: required.includes(name), schema: s }));
}
const param = (name: string) => ({ name, in: "path", required: true, schema: { type: "string" } });
const answer = (description: string, schema: Schema) => ({ description, content: { "application/json": { schema: json(schema, "output") } } });
const error = answer("an error: `{success: false, error, code}`", errorSchema);
/** An operation: its answer on success (`status`), and the errors every route may give. */
const op = (summary: string, schema: Schema, extra: object = {}, status = "200") => ({
  summary,
  ...extra,
  responses: { [status]: answer(summary, schema), "4XX": error, "503": error },
});
/** A file the API serves as it is (the dashboard's page and assets), open as /health is. */
const file = (summary: string, type: string) => ({ summary, responses: { "200": { description: summary, content: { [type]: { schema: { type: "string" } } } } } });

export function openApiDocument(version: string): object {
  return hoistDefinitions({
    openapi: "3.1.0",
    info: { title: "edgeq", version, description: "A task queue on NATS JetStream. See docs/architecture.md." },
    paths: {
      // Unhealthy is a 503 with the same fields and an `error`.
      "/health": { get: { ...op("the system at a glance", healthSchema), responses: { "200": answer("healthy", healthSchema), "503": answer("unhealthy", healthSchema) } } },
      "/openapi.json": { get: op("this document", openApiSchema) },
      "/dashboard": { get: file("the dashboard: its data comes from the routes here, with the token entered in it", "text/html") },
      "/dashboard/dashboard.js": { get: file("the dashboard's script, bundled at build time", "text/javascript") },
      "/dashboard/dashboard.css": { get: file("the dashboard's style sheet", "text/css") },
      "/tasks": {
        post: op("submit a task (or, with an array, a batch, answered as /tasks/batch)", z.union([submitAnswerSchema, batchAnswerSchema]), { requestBody: body(submitBodySchema) }, "201"),
        get: op("list tasks, newest first, a page at a time", taskPageSchema, { parameters: query(listQuerySchema) }),
      },
      "/tasks/batch": { post: op("submit up to 1,000 tasks, validated whole", batchAnswerSchema, { requestBody: body(batchSchema) }, "201") },
      "/tasks/{id}": { get: op("a task's record", taskRecordSchema, { parameters: [param("id")] }) },
      "/tasks/{id}/cancel": { post: op("cancel a task", cancelAnswerSchema, { parameters: [param("id")], requestBody: body(cancelSchema, false) }) },
      "/tasks/cancel": { post: op("cancel the unfinished tasks a filter picks", cancelManyAnswerSchema, { requestBody: body(cancelManySchema, false) }) },
      "/queues": { get: op("every queue: paused, pending per priority, running, completed and failed per second over the last minute", queuesSchema) },
      "/queues/{name}/pause": { post: op("pause a queue on every worker", queueStateAnswerSchema, { parameters: [param("name")] }) },
      "/queues/{name}/resume": { post: op("resume a queue", queueStateAnswerSchema, { parameters: [param("name")] }) },
      "/workers": { get: op("the live workers", workersSchema) },
      "/flows": { post: op("submit a graph of tasks atomically: {nodes, edges}, or one node with nested children (fields in snake_case too)", flowAnswerSchema, { requestBody: body(flowSchema) }, "201") },
      "/schedules": {
        post: op("make or replace a recurring task", scheduleAnswerSchema, { requestBody: body(scheduleSchema) }, "201"),
        get: op("every recurring task, with its next run", schedulesSchema),
      },
      "/schedules/{name}": {
        get: op("a recurring task", scheduleRecordSchema, { parameters: [param("name")] }),
        delete: op("delete a recurring task", scheduleDeletedSchema, { parameters: [param("name")] }),
      },
      "/schedules/{name}/pause": { post: op("pause a recurring task", scheduleAnswerSchema, { parameters: [param("name")] }) },
      "/schedules/{name}/resume": { post: op("resume a recurring task", scheduleAnswerSchema, { parameters: [param("name")] }) },
      "/dead-letters": {
        get: op("dead letters, newest first", deadLettersSchema, { parameters: query(deadLetterListSchema) }),
        delete: op("purge dead letters", purgedAllSchema, { parameters: query(purgeQuerySchema) }),
      },
      "/dead-letters/requeue": { post: op("requeue every dead letter (of a queue)", requeuedAllSchema, { requestBody: body(requeueAllSchema, false) }) },
      "/dead-letters/{id}": {
        get: op("a dead letter, with its history", deadLetterSchema, { parameters: [param("id")] }),
        delete: op("purge a dead letter", purgedOneSchema, { parameters: [param("id")] }),
      },
      "/events": {
        get: {
          summary: "task events as server-sent events (`event: <event>`, `data: <JSON>`), filtered",
          parameters: query(eventsQuerySchema),
          responses: { "200": { description: "an event stream", content: { "text/event-stream": { schema: { type: "string" } } } }, "4XX": error, "503": error },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics (text format 0.0.4): task counters and histograms from this process's events, gauges read now",
          responses: { "200": { description: "the metrics", content: { "text/plain": { schema: { type: "string" } } } }, "4XX": error, "503": error },
        },
      },
      "/dead-letters/{id}/requeue": { post: op("requeue a dead letter", requeuedOneSchema, { parameters: [param("id")], requestBody: body(requeueOneSchema, false) }) },
    },
  });
}

/**
 * zod keeps the definitions of a schema that refers to itself (a flow's nested children) in `$defs`
 * beside it, with references from the root ("#/$defs/…"), which inside this document would point
 * at its root: they move to `components.schemas`, under a prefix per schema.
 */
function hoistDefinitions(doc: object): object {
  const schemas: Record<string, unknown> = {};
  let count = 0;
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value !== "object" || value === null) return value;
    if ("$defs" in value) {
      const prefix = `s${count++}_`;
      const moved = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll('"#/$defs/', `"#/components/schemas/${prefix}`));
      const { $defs, ...rest } = value as { $defs: Record<string, unknown> };
      for (const [name, def] of Object.entries($defs)) schemas[prefix + name] = walk(moved(def));
      return walk(moved(rest));
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
  };
  const out = walk(doc) as object;
  return Object.keys(schemas).length ? { ...out, components: { schemas } } : out;
}
