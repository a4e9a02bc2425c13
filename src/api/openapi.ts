/**
 * The HTTP API described as OpenAPI 3.1 (`GET /openapi.json`), its request bodies and queries
 * generated from the same zod schemas the routes parse with, so the two cannot drift apart; its
 * answers from responses.ts, which test/openapi.test.ts checks every route's answer against.
 */
import { z } from "zod";
import { scheduleSchema } from "../delayed/mod.ts";
import { deadLetterListSchema, purgeQuerySchema, requeueAllSchema, requeueOneSchema } from "./dead-letters.ts";
import { batchSchema, cancelManySchema, cancelSchema, listQuerySchema, submitBodySchema } from "./schemas.ts";
import {
  batchAnswerSchema,
  cancelAnswerSchema,
  cancelManyAnswerSchema,
  deadLetterSchema,
  deadLettersSchema,
  errorSchema,
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

export function openApiDocument(version: string): object {
  return {
    openapi: "3.1.0",
    info: { title: "edgeq", version, description: "A task queue on NATS JetStream. See docs/architecture.md." },
    paths: {
      // Unhealthy is a 503 with the same fields and an `error`.
      "/health": { get: { ...op("the system at a glance", healthSchema), responses: { "200": answer("healthy", healthSchema), "503": answer("unhealthy", healthSchema) } } },
      "/openapi.json": { get: op("this document", openApiSchema) },
      "/tasks": {
        post: op("submit a task (or, with an array, a batch, answered as /tasks/batch)", z.union([submitAnswerSchema, batchAnswerSchema]), { requestBody: body(submitBodySchema) }, "201"),
        get: op("list tasks, newest first, a page at a time", taskPageSchema, { parameters: query(listQuerySchema) }),
      },
      "/tasks/batch": { post: op("submit up to 1,000 tasks, validated whole", batchAnswerSchema, { requestBody: body(batchSchema) }, "201") },
      "/tasks/{id}": { get: op("a task's record", taskRecordSchema, { parameters: [param("id")] }) },
      "/tasks/{id}/cancel": { post: op("cancel a task", cancelAnswerSchema, { parameters: [param("id")], requestBody: body(cancelSchema, false) }) },
      "/tasks/cancel": { post: op("cancel the unfinished tasks a filter picks", cancelManyAnswerSchema, { requestBody: body(cancelManySchema, false) }) },
      "/queues": { get: op("every queue: paused, pending per priority, running", queuesSchema) },
      "/queues/{name}/pause": { post: op("pause a queue on every worker", queueStateAnswerSchema, { parameters: [param("name")] }) },
      "/queues/{name}/resume": { post: op("resume a queue", queueStateAnswerSchema, { parameters: [param("name")] }) },
      "/workers": { get: op("the live workers", workersSchema) },
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
      "/dead-letters/{id}/requeue": { post: op("requeue a dead letter", requeuedOneSchema, { parameters: [param("id")], requestBody: body(requeueOneSchema, false) }) },
    },
  };
}
