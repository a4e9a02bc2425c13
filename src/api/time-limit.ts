/** How long a route may take: its answer, a 503, comes through the app's one error mapper. */
import type { MiddlewareHandler } from "hono";
import { UnavailableError } from "../wire/mod.ts";

/**
 * Answers 503 a request whose route takes longer than `ms`, through the app's error mapper (Hono's
 * `timeout` middleware throws an HTTPException, which would bypass it). The route's work is not
 * stopped: a submission that was slow may still be stored, which the message says. Streaming
 * routes (`exempt`) are long-lived by design.
 *
 * On the hot path a request costs one promise and a set entry, not a timer of its own: one sweep,
 * every tenth of `ms` while requests are open, fails those past their time (so within 1.1 × `ms`).
 */
export function limitTime(ms: number, exempt: readonly string[]): MiddlewareHandler {
  const open = new Set<{ deadline: number; fail: (err: Error) => void }>();
  let sweeper: ReturnType<typeof setInterval> | undefined;
  const sweep = () => {
    const now = Date.now();
    // In the order they came, so in deadline order: stop at the first still in time.
    for (const request of open) {
      if (request.deadline > now) break;
      open.delete(request);
      request.fail(new UnavailableError(`the request took longer than ${ms} ms and was given up; it may still take effect (resubmit a task with the same id)`));
    }
    if (open.size === 0) sweeper = void clearInterval(sweeper);
  };
  return (c, next) => {
    if (exempt.includes(c.req.path)) return next();
    return new Promise<void>((resolve, reject) => {
      const request = { deadline: Date.now() + ms, fail: reject };
      open.add(request);
      sweeper ??= setInterval(sweep, Math.max(10, ms / 10));
      next().then(
        () => (open.delete(request), resolve()),
        (err) => (open.delete(request), reject(err)),
      );
    });
  };
}
