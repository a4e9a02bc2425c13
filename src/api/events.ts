/**
 * `GET /events`: task events as server-sent events, filtered by `queue`, `type`, `event` (one, or
 * several separated by commas) and `task_id`. Each message is `event: <event>` with the event's
 * JSON as `data`. A comment line goes out every `heartbeatMs` so that proxies keep an idle stream
 * open; the NATS subscription is closed when the client goes.
 */
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { Edgeq } from "../client/mod.ts";
import { parseInput } from "../nats/mod.ts";
import { eventNameSchema } from "../events/subscription.ts";
import { idSchema, queueSchema, typeSchema } from "../wire/mod.ts";

export const eventsQuerySchema = z.strictObject({
  queue: queueSchema.optional(),
  type: typeSchema.optional(),
  /** One event or several, comma-separated: `completed,failed`. */
  event: z.string().transform((s) => s.split(",")).pipe(z.array(eventNameSchema)).optional(),
  task_id: idSchema.optional(),
});

/** How often an idle stream gets a comment line, by default: below the 60 s at which common proxies close idle connections. */
export const EVENTS_HEARTBEAT_MS = 15_000;

export function eventRoutes(edgeq: Edgeq, heartbeatMs = EVENTS_HEARTBEAT_MS): Hono {
  const routes = new Hono();
  routes.get("/", (c) => {
    const query = parseInput(eventsQuerySchema, c.req.query(), "query");
    const subscription = edgeq.events.subscribe({ queue: query.queue, type: query.type, event: query.event, taskId: query.task_id });
    return streamSSE(c, async (stream) => {
      // The client went: the response stream is aborted (or the request's signal, where the server sets it).
      stream.onAbort(() => subscription.close());
      c.req.raw.signal?.addEventListener("abort", () => subscription.close());
      const heartbeat = setInterval(() => void stream.write(": heartbeat\n\n"), heartbeatMs);
      try {
        // Sent at once, so that the client has the response before the first event.
        await stream.write(": connected\n\n");
        for await (const event of subscription) {
          await stream.writeSSE({ event: event.event, data: JSON.stringify(event) });
        }
      } finally {
        clearInterval(heartbeat);
        subscription.close();
      }
    });
  });
  return routes;
}
