/** Reading request input the same way on every route: body sizes, JSON bodies, list limits, and their errors. */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError, ValidationError } from "../wire/mod.ts";
import { MAX_JSON_DEPTH, MAX_JSON_WIDTH } from "./limits.ts";

/** Parses a JSON body; `optional` bodies may be empty, and are then `{}`. */
export function parseJson(text: string, { optional = false } = {}): unknown {
  if (text.trim() === "") {
    if (optional) return {};
    throw new ValidationError("the body is empty; send a JSON object such as {\"type\": \"process\"}");
  }
  // Shorter bodies cannot nest deeper than the limit, nor hold a wider object: the usual task skips the scan.
  if (text.length > MAX_JSON_DEPTH) assertJsonShape(text);
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

/**
 * Refuses JSON nested deeper than MAX_JSON_DEPTH or with an object or array wider than
 * MAX_JSON_WIDTH, in one pass over the text before it is parsed: a body within its size limit could
 * otherwise cost far more than its size later (recursion in validation and encoding, a megabyte of
 * `[` overflowing the stack, a hundred thousand keys). Invalid JSON is left to JSON.parse to name.
 */
export function assertJsonShape(text: string): void {
  const widths: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (widths.push(1) > MAX_JSON_DEPTH) throw new ValidationError(`the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) widths.pop();
    else if (c === COMMA && widths.length > 0 && ++widths[widths.length - 1] > MAX_JSON_WIDTH) {
      throw new ValidationError(`the body has an object or array of more than ${MAX_JSON_WIDTH} entries`);
    }
  }
}
/** Where the string opened at `start` ends: the next quote not escaped, found by the engine's own search. */
function stringEnd(text: string, start: number): number {
  for (let end = text.indexOf('"', start + 1); end !== -1; end = text.indexOf('"', end + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
  }
  return text.length;
}
const [QUOTE, BACKSLASH, COMMA] = [0x22, 0x5c, 0x2c];
const [OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET] = [0x7b, 0x7d, 0x5b, 0x5d];
