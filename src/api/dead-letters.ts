/**
 * The dead-letter routes of the HTTP API, mounted at /dead-letters: list, inspect, requeue (one or
 * all, optionally with new attempts) and purge. Errors reach the API's one `onError`.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { Edgeq } from "../client/mod.ts";
import { parseInput } from "../nats/mod.ts";
import { limitSchema } from "../tasks/mod.ts";
import { parseJson } from "./http-input.ts";
import { maxAttemptsSchema, queueSchema } from "../wire/mod.ts";

export const deadLetterListSchema = z.object({
  queue: queueSchema.optional(),
  limit: limitSchema,
});
export const requeueOneSchema = z.strictObject({ max_attempts: maxAttemptsSchema.optional() }, { error: "the body must be a JSON object" });
export const requeueAllSchema = requeueOneSchema.extend({ queue: queueSchema.optional() });
export const purgeQuerySchema = z.object({ queue: queueSchema.optional() });

export function deadLetterRoutes(edgeq: Edgeq): Hono {
  const routes = new Hono();
  const dead = edgeq.deadLetters;

  routes.get("/", async (c) => {
    const query = parseInput(deadLetterListSchema, c.req.query(), "query");
    const letters = await dead.list(query);
    return c.json({ dead_letters: letters, count: letters.length });
  });

  // Ids are checked by the library, which makes a subject of them.
  routes.get("/:id", async (c) => c.json(await dead.get(c.req.param("id"))));

  routes.post("/requeue", async (c) => {
    const body = parseInput(requeueAllSchema, parseJson(await c.req.text(), { optional: true }), "requeue");
    const requeued = await dead.requeueAll({ queue: body.queue, maxAttempts: body.max_attempts });
    return c.json({ success: true, requeued });
  });

  routes.post("/:id/requeue", async (c) => {
    const id = c.req.param("id");
    const body = parseInput(requeueOneSchema, parseJson(await c.req.text(), { optional: true }), "requeue");
    await dead.requeue(id, { maxAttempts: body.max_attempts });
    return c.json({ success: true, task_id: id, status: "pending" });
  });

  routes.delete("/:id", async (c) => {
    const id = c.req.param("id");
    await dead.purge(id);
    return c.json({ success: true, task_id: id });
  });

  routes.delete("/", async (c) => {
    const query = parseInput(purgeQuerySchema, c.req.query(), "query");
    return c.json({ success: true, purged: await dead.purgeAll(query) });
  });

  return routes;
}
