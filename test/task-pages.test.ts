/**
 * `GET /tasks` filtered by queue and type and read page by page with its cursor, over a real
 * nats-server: pending tasks (from the work stream) and finished ones (from the records), with
 * equal creation times split across pages, each task on exactly one page.
 */
import { expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { newRecord } from "../src/record.ts";
import { putRecord, useNats } from "./helpers/setup.ts";

const env = useNats();

async function allPages(app: ReturnType<typeof createApi>, query: string): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor = "";
  for (;;) {
    const res = await app.request(`/tasks?${query}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    const page = await res.json();
    pages.push(page.tasks.map((t: { id: string }) => t.id));
    if (!page.next_cursor) return pages;
    cursor = encodeURIComponent(page.next_cursor);
  }
}

test("pending tasks by queue and type, three to a page, none twice, newest first", async () => {
  const app = createApi(env.edgeq);
  const a = env.edgeq.queue("pages-a");
  const b = env.edgeq.queue("pages-b");
  const inA: string[] = [];
  for (let i = 0; i < 7; i++) inA.push((await a.submit(i % 2 ? "odd" : "even", i)).id);
  for (let i = 0; i < 3; i++) await b.submit("even", i);

  const pages = await allPages(app, "queue=pages-a&limit=3");
  expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
  // Submitted within the same milliseconds, tasks are ordered by id among themselves.
  const unpaged = (await (await app.request("/tasks?queue=pages-a&limit=100")).json()).tasks.map((t: { id: string }) => t.id);
  expect(pages.flat()).toEqual(unpaged);
  expect([...unpaged].sort()).toEqual([...inA].sort());
  expect((await allPages(app, "queue=pages-a&type=odd&limit=10")).flat().sort()).toEqual([inA[1], inA[3], inA[5]].sort());
  expect((await allPages(app, "queue=pages-a&status=pending&limit=2")).flat()).toEqual(unpaged);
  expect((await allPages(app, "queue=pages-b&type=odd")).flat()).toEqual([]);
});

test("finished tasks with the same creation time are split across pages by id", async () => {
  const app = createApi(env.edgeq);
  const created_at = "2026-12-06T10:00:00.000Z";
  const ids = ["same-1", "same-2", "same-3", "same-4", "same-5"];
  for (const id of ids) {
    await putRecord(env.edgeq, newRecord({ id, type: "tie", queue: "ties", priority: "normal", data: null }, { status: "completed", attempts: 1, max_attempts: 3, created_at, finished_at: created_at }));
  }
  const pages = await allPages(app, "status=completed&type=tie&limit=2");
  expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
  expect(pages.flat()).toEqual([...ids].reverse());
});

test("a cursor the API did not give is a 400 naming it", async () => {
  const app = createApi(env.edgeq);
  for (const bad of ["nonsense", btoa("[1,2]"), "x".repeat(600)]) {
    const res = await app.request(`/tasks?cursor=${encodeURIComponent(bad)}`);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/cursor/);
  }
});
