/** The flow most API tests start with: submit a task over HTTP, then wait for its record to say completed. */
import { expect } from "vitest";
import type { createApi } from "../../src/api/app.ts";
import { eventually } from "./processes.ts";

/** Submits `{"type": "process", "data": data}` and returns its record once completed, with the task's id. */
export async function processOverHttp(api: ReturnType<typeof createApi>, data: string, timeoutMs = 10_000): Promise<{ task_id: string; task: Record<string, unknown> }> {
  const res = await api.request("/tasks", { method: "POST", body: JSON.stringify({ type: "process", data }) });
  expect(res.status).toBe(201);
  const { task_id } = await res.json();
  const task = await eventually(async () => {
    const body = await (await api.request(`/tasks/${task_id}`)).json();
    return body.status === "completed" ? body : null;
  }, timeoutMs, "the task to complete");
  return { task_id, task };
}
