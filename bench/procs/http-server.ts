/**
 * The HTTP comparator for systems without an HTTP API of their own: the smallest Hono app on the
 * same Node server edgeq uses, whose `POST /tasks` submits the body's data and answers 201 with
 * the task id, as `edgeq serve` does.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { loadSystem } from "../systems/mod.ts";
import { type BenchPayload } from "../systems/system.ts";
import { type HttpServerJob, job, send } from "./messages.ts";

const { system, env, port } = job<HttpServerJob>();
const producer = await (await loadSystem(system)).producer(env);

const app = new Hono();
app.post("/tasks", async (c) => {
  const body = await c.req.json<{ type: string; data: BenchPayload }>();
  const id = await producer.submit(body.data);
  return c.json({ success: true, task_id: id }, 201);
});

serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => void send({ kind: "ready" }));
