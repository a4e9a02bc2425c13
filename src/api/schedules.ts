/**
 * The recurring tasks' routes, mounted at /schedules: make or replace (POST), list, read, pause,
 * resume and delete. Errors reach the API's one `onError`.
 */
import { Hono } from "hono";
import type { Edgeq } from "../client/mod.ts";
import { parseJson } from "./http-input.ts";

export function scheduleRoutes(edgeq: Edgeq): Hono {
  const routes = new Hono();
  const schedules = edgeq.schedules;

  routes.post("/", async (c) => c.json({ success: true, schedule: await schedules.set(parseJson(await c.req.text())) }, 201));

  routes.get("/", async (c) => {
    const all = await schedules.list();
    return c.json({ schedules: all, count: all.length });
  });

  // Names are checked by the library, which makes a key of them.
  routes.get("/:name", async (c) => c.json(await schedules.get(c.req.param("name"))));

  for (const [action, paused] of [["pause", true], ["resume", false]] as const) {
    routes.post(`/:name/${action}`, async (c) => c.json({ success: true, schedule: await schedules.setPaused(c.req.param("name"), paused) }));
  }

  routes.delete("/:name", async (c) => {
    await schedules.delete(c.req.param("name"));
    return c.json({ success: true, name: c.req.param("name") });
  });

  return routes;
}
