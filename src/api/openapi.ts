/**
 * The HTTP API described as OpenAPI 3.1 (`GET /openapi.json`), its request bodies and queries
 * generated from the same zod schemas the routes parse with, so the two cannot drift apart.
 */
import { z } from "zod";
import { scheduleSchema } from "../delayed/mod.ts";
import { deadLetterListSchema, purgeQuerySchema, requeueAllSchema, requeueOneSchema } from "./dead-letters.ts";
import { eventsQuerySchema } from "./events.ts";
import { batchSchema, cancelManySchema, cancelSchema, listQuerySchema, submitBodySchema } from "./schemas.ts";

type Schema = z.ZodType;

const json = (schema: Schema) => z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
const body = (schema: Schema, required = true) => ({ required, content: { "application/json": { schema: json(schema) } } });
/** The query parameters of an object schema. */
function query(schema: Schema) {
  const { properties = {}, required = [] } = json(schema) as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(properties).map(([name, s]) => ({ name, in: "query", required: required.includes(name), schema: s }));
}
const param = (name: string) => ({ name, in: "path", required: true, schema: { type: "string" } });
const error = { description: "an error: `{success: false, error, code}`", content: { "application/json": { schema: { type: "object", properties: { success: { const: false }, error: { type: "string" }, code: { type: "string" } } } } } };
const ok = (description: string) => ({ description, content: { "application/json": { schema: { type: "object" } } } });
/** A file the API serves as it is (the dashboard's page and assets), open as /health is. */
const file = (summary: string, type: string) => ({ summary, responses: { "200": { description: summary, content: { [type]: { schema: { type: "string" } } } } } });
const op = (summary: string, extra: object = {}, status = "200") => ({ summary, ...extra, responses: { [status]: ok(summary), "4XX": error, "503": error } });

export function openApiDocument(version: string): object {
  return {
    openapi: "3.1.0",
    info: { title: "edgeq", version, description: "A task queue on NATS JetStream. See docs/architecture.md." },
    paths: {
      "/health": { get: op("the system at a glance") },
      "/openapi.json": { get: op("this document") },
      "/dashboard": { get: file("the dashboard: its data comes from the routes here, with the token entered in it", "text/html") },
      "/dashboard/dashboard.js": { get: file("the dashboard's script, bundled at build time", "text/javascript") },
      "/dashboard/dashboard.css": { get: file("the dashboard's style sheet", "text/css") },
      "/tasks": {
        post: op("submit a task (or, with an array, a batch)", { requestBody: body(submitBodySchema) }, "201"),
        get: op("list tasks, newest first", { parameters: query(listQuerySchema) }),
      },
      "/tasks/batch": { post: op("submit up to 1,000 tasks, validated whole", { requestBody: body(batchSchema) }, "201") },
      "/tasks/{id}": { get: op("a task's record", { parameters: [param("id")] }) },
      "/tasks/{id}/cancel": { post: op("cancel a task", { parameters: [param("id")], requestBody: body(cancelSchema, false) }) },
      "/tasks/cancel": { post: op("cancel the unfinished tasks a filter picks", { requestBody: body(cancelManySchema, false) }) },
      "/queues": { get: op("every queue: paused, pending per priority, running") },
      "/queues/{name}/pause": { post: op("pause a queue on every worker", { parameters: [param("name")] }) },
      "/queues/{name}/resume": { post: op("resume a queue", { parameters: [param("name")] }) },
      "/workers": { get: op("the live workers") },
      "/schedules": {
        post: op("make or replace a recurring task", { requestBody: body(scheduleSchema) }, "201"),
        get: op("every recurring task, with its next run"),
      },
      "/schedules/{name}": {
        get: op("a recurring task", { parameters: [param("name")] }),
        delete: op("delete a recurring task", { parameters: [param("name")] }),
      },
      "/schedules/{name}/pause": { post: op("pause a recurring task", { parameters: [param("name")] }) },
      "/schedules/{name}/resume": { post: op("resume a recurring task", { parameters: [param("name")] }) },
      "/dead-letters": {
        get: op("dead letters, newest first", { parameters: query(deadLetterListSchema) }),
        delete: op("purge dead letters", { parameters: query(purgeQuerySchema) }),
      },
      "/dead-letters/requeue": { post: op("requeue every dead letter (of a queue)", { requestBody: body(requeueAllSchema, false) }) },
      "/dead-letters/{id}": {
        get: op("a dead letter, with its history", { parameters: [param("id")] }),
        delete: op("purge a dead letter", { parameters: [param("id")] }),
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
      "/dead-letters/{id}/requeue": { post: op("requeue a dead letter", { parameters: [param("id")], requestBody: body(requeueOneSchema, false) }) },
    },
  };
}
