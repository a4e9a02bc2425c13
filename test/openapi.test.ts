/**
 * GET /openapi.json: an OpenAPI 3.1 document generated from the routes' own zod schemas, which
 * documents every route the app has, and answers without a token.
 */
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import type { Edgeq } from "../src/client/client.ts";
import { ROOT } from "./helpers/processes.ts";

// The document needs no NATS: building the app needs only the handle's shape.
const app = createApi({ assertConnected: () => {}, events: { subscribe: () => ({ close() {} }) } } as unknown as Edgeq, { tokens: [{ label: "t", secret: new Uint8Array(16), scopes: new Set(["read"]) }] });

test("GET /openapi.json documents every route, with bodies and queries from the zod schemas", async () => {
  const res = await app.request("/openapi.json");
  expect(res.status).toBe(200);
  const doc = await res.json();
  expect(doc).toMatchObject({ openapi: "3.1.0", info: { title: "edgeq", version: JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).version } });
  const routes = app.routes
    .filter((r) => r.method !== "ALL")
    .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([a-z]+)/g, "{$1}").replace(/(.)\/$/, "$1")}`);
  const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
  expect([...new Set(routes)].sort()).toEqual([...new Set(documented)].sort());

  const submit = doc.paths["/tasks"].post.requestBody.content["application/json"].schema;
  expect(submit.required).toEqual(["type"]);
  expect(Object.keys(submit.properties)).toEqual(expect.arrayContaining(["type", "data", "priority", "queue", "delay_ms", "run_at", "idempotency_key"]));
  expect(submit.additionalProperties).toBe(false);
  expect(doc.paths["/tasks"].get.parameters.map((p: { name: string }) => p.name)).toEqual(["status", "queue", "type", "limit", "cursor"]);
});
