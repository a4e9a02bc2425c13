/** Reading request input the same way on every route: body sizes, JSON bodies, list limits, and their errors. */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError, ValidationError } from "../errors.ts";

/** Parses a JSON body; `optional` bodies may be empty, and are then `{}`. */
export function parseJson(text: string, { optional = false } = {}): unknown {
  if (text.trim() === "") {
    if (optional) return {};
    throw new ValidationError("the body is empty; send a JSON object such as {\"type\": \"process\"}");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`the body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Refuses bodies over `maxSize` bytes with PayloadTooLargeError. A declared Content-Length is
 * checked from the header alone: hono's bodyLimit first reads `c.req.raw.body`, which makes
 * @hono/node-server build a full Request (stream, AbortSignal) for every call and miss its fast
 * body read. A body without a length is counted by hono's bodyLimit as it streams in.
 */
export function limitBody(maxSize: number): MiddlewareHandler {
  const tooLarge = () => {
    throw new PayloadTooLargeError(`request body exceeds ${maxSize} bytes`);
  };
  const streamed = bodyLimit({ maxSize, onError: tooLarge });
  return (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const length = c.req.header("content-length");
    if (length === undefined || c.req.header("transfer-encoding") !== undefined) return streamed(c, next);
    return parseInt(length, 10) > maxSize ? tooLarge() : next();
  };
}
