/**
 * The HTTP comparator for systems without an HTTP API of their own: the smallest Hono app on the
 * same Node server edgeq uses, whose `POST /tasks` submits the body's data and answers 201 with
 * the task id, as `edgeq serve` does; `POST /tasks/batch` takes an array of such bodies, submits
 * their data in one batch the system's own way (BullMQ's addBulk, raw JetStream's hand-matched
 * publishes) and answers 201 with the ids, without edgeq's duplicate flags (the producers report none).
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
app.post("/tasks/batch", async (c) => {
  const body = await c.req.json<{ type: string; data: BenchPayload }[]>();
  const ids = await producer.submitMany(body.map((task) => task.data));
  return c.json({ success: true, accepted: ids.length, tasks: ids.map((id) => ({ task_id: id })) }, 201);
});

serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => void send({ kind: "ready" }));
