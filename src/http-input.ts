/** Reading request input the same way on every route: JSON bodies, list limits, and their errors. */
import { z } from "zod";
import { ValidationError } from "./errors.ts";

/** `?limit=` of a listing: newest first, 50 by default. */
export const limitSchema = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(1000, "must be at most 1000")
  .default(50);

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
