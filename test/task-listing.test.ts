/**
 * GET /tasks: filters by queue and type (with status), pages with an opaque cursor through pending
 * and finished tasks alike, each task once and in order; unknown query keys and bad cursors are 400s.
 */
import { expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const api = () => createApi(env.edgeq);
async function get(path: string) {
  const res = await api().request(path);
  return { status: res.status, body: await res.json() };
}

/** Every task the listing at `query` gives, page by page of `limit`, and the number of pages. */
async function allPages(query: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const { status, body } = await get(`/tasks?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(status).toBe(200);
    expect(body.count).toBe(body.tasks.length);
    ids.push(...body.tasks.map((t: { id: string }) => t.id));
    cursor = body.next_cursor;
    pages++;
  } while (cursor);
  return { ids, pages };
}

test("filters by queue and type, and pages with next_cursor through pending and finished tasks", async () => {
  // In "list-a": 5 of type "x" and 2 of "y", submitted one after another; in "list-b": 3 of type "x".
  const submit = async (queue: string, type: string) => (await env.edgeq.queue(queue).submit(type, null)).id;
  const a: { id: string; type: string }[] = [];
  for (const type of ["x", "y", "x", "x", "y", "x", "x"]) a.push({ id: await submit("list-a", type), type });
  const b = [await submit("list-b", "x"), await submit("list-b", "x"), await submit("list-b", "x")];
  // Three of list-a's "x" tasks finish; the rest stay pending (no worker serves list-b or "y").
  const worker = await env.edgeq.worker({ x: () => "done" }, { queues: ["list-a"] });
  try {
    await Promise.all(a.filter((t) => t.type === "x").map((t) => env.edgeq.tasks.waitFor(t.id, 10_000)));
  } finally {
    await worker.stop(0);
  }
  const newest = (ids: string[]) => [...ids].reverse();

  const queueA = await allPages("queue=list-a", 2);
  expect(queueA).toEqual({ ids: newest(a.map((t) => t.id)), pages: 4 });
  expect((await allPages("queue=list-a&type=x", 2)).ids).toEqual(newest(a.filter((t) => t.type === "x").map((t) => t.id)));
  expect((await allPages("queue=list-a&type=y&status=pending", 1)).ids).toEqual(newest(a.filter((t) => t.type === "y").map((t) => t.id)));
  expect((await allPages("queue=list-a&status=completed", 10)).ids).toEqual(newest(a.filter((t) => t.type === "x").map((t) => t.id)));
  expect((await allPages("type=x&status=pending", 2)).ids).toEqual(newest(b));
  // Exactly a page's worth: the last page is empty, with no cursor after it.
  expect(await allPages("queue=list-b", 3)).toEqual({ ids: newest(b), pages: 2 });
  const first = await get("/tasks?queue=list-b&limit=3");
  expect(first.body.tasks.every((t: { queue: string; type: string }) => t.queue === "list-b" && t.type === "x")).toBe(true);
});

test("unknown query keys, bad filters and cursors not given by the API are 400s naming what is wrong", async () => {
  expect(await get("/tasks?queu=list-a")).toMatchObject({ status: 400, body: { code: "validation_error", error: expect.stringMatching(/queu/) } });
  expect(await get("/tasks?queue=no%20spaces")).toMatchObject({ status: 400, body: { error: expect.stringMatching(/queue/) } });
  expect(await get("/tasks?type=a..b")).toMatchObject({ status: 400, body: { error: expect.stringMatching(/type/) } });
  expect(await get("/tasks?cursor=not-a-cursor")).toMatchObject({ status: 400, body: { error: expect.stringMatching(/cursor/) } });
});
