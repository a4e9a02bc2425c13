/**
 * `POST /flows`: a graph of tasks submitted at once (src/flows/), `{nodes, edges}` or one node with
 * nested `children`, with the fields `POST /tasks` has (`max_attempts`, `depends_on`, `run_anyway`…).
 * Accepted whole (201) or not at all: a cycle, an unknown id or any bad field is a 400 naming it.
 */
import { Hono } from "hono";
import type { Edgeq, Submitted } from "../client/mod.ts";
import { fromSnakeCase } from "../flows/mod.ts";
import { parseJson } from "./http-input.ts";

export function flowRoutes(edgeq: Edgeq, answer: (task: Submitted) => object): Hono {
  const routes = new Hono();
  routes.post("/", async (c) => {
    const flow = await edgeq.flow(fromSnakeCase(parseJson(await c.req.text())) as Parameters<Edgeq["flow"]>[0]);
    return c.json({ success: true, flow_id: flow.id, duplicate: flow.duplicate, tasks: flow.tasks.map(answer) }, 201);
  });
  return routes;
}
