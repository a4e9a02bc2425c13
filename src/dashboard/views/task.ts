/**
 * Browser-only. One task: its data, result or error, progress, every attempt, a timeline (from
 * the record, then from the events as they come), its parents (`depends_on`) and, where the API
 * reports them, its children, when it is part of a flow; and cancel.
 */
import type { TaskRecord as Record_ } from "../../wire/mod.ts";
import { api, runningOn } from "../api.ts";
import { badge, h, json, link, replace, section, table, time } from "../dom.ts";
import type { TaskEvent } from "../events.ts";
import { act, load, refreshOnEvents, type View } from "../view.ts";

/** A task's record as the API answers it; with flows, the tasks it waits for and those waiting for it. */
export type TaskRecord = Record_ & { depends_on?: string[]; waiting_on?: string[]; flow?: string; children?: string[] };

const FINAL = ["completed", "failed", "dead", "canceled"];

/** The timeline the record itself tells: created, each attempt's start and end, the end. */
function recordTimeline(t: TaskRecord): Array<[string, string]> {
  const points: Array<[string, string]> = [[t.created_at, "submitted"]];
  if (t.run_at) points.push([t.run_at, "due (delayed)"]);
  for (const a of t.history) {
    if (a.started_at) points.push([a.started_at, `attempt ${a.attempt} started on ${a.worker_id ?? "?"}`]);
    points.push([a.finished_at, `attempt ${a.attempt} ${a.error ? `failed: ${a.error}` : "ended"}`]);
  }
  if (t.started_at && !t.history.some((a) => a.started_at === t.started_at)) points.push([t.started_at, `attempt ${t.attempts} started on ${t.worker_id ?? "?"}`]);
  if (t.finished_at && FINAL.includes(t.status)) points.push([t.finished_at, t.status]);
  return points.sort((a, b) => a[0].localeCompare(b[0]));
}

function progressOf(p: unknown): HTMLElement {
  if (typeof p !== "number") return json(p);
  const pct = Math.max(0, Math.min(100, p));
  return h("div", { class: "progress" }, h("progress", { max: 100, value: pct }), h("span", {}, `${pct}%`));
}

const links = (ids: string[] | undefined) => (ids?.length ? h("div", { class: "links" }, ...ids.map((id) => link(`#/task/${encodeURIComponent(id)}`, id))) : h("span", { class: "muted" }, "none"));

export const task: View = (ctx, root, id) => {
  const live: TaskEvent[] = [];
  const render = () =>
    load(root, async () => {
      const [t, running] = await Promise.all([api<TaskRecord>(`/tasks/${encodeURIComponent(id)}`), runningOn()]);
      // A first attempt writes no record until it ends: its worker's heartbeat says it runs.
      if (t.status === "pending" && running.has(t.id)) Object.assign(t, { status: "running", worker_id: running.get(t.id) });
      const cancel = FINAL.includes(t.status)
        ? null
        : h("button", { class: "danger", id: "cancel-task", onclick: () => act(ctx, `canceled task ${t.id}`, () => api(`/tasks/${encodeURIComponent(t.id)}/cancel`, "POST"), render) }, "Cancel");
      // The record tells what happened until it was written; the events, what came after.
      const since = Date.parse(t.updated_at);
      const timeline = [...recordTimeline(t), ...live.filter((e) => e.at > since).map((e): [string, string] => [new Date(e.at).toISOString(), `${e.event}${e.worker_id ? ` on ${e.worker_id}` : ""} (live)`])];
      replace(
        root,
        h(
          "section",
          { class: "card" },
          h("div", { class: "title-row" }, h("h2", {}, "Task ", h("code", {}, t.id)), badge(t.status), cancel),
          h(
            "dl",
            { class: "facts" },
            ...[["type", t.type], ["queue", t.queue], ["priority", t.priority], ["attempts", `${t.attempts} / ${t.max_attempts}`], ["worker", t.worker_id ?? "—"], ["created", time(t.created_at)], ["finished", time(t.finished_at)]]
              .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
          ),
        ),
        h(
          "div",
          { class: "columns" },
          section("Data", json(t.data)),
          t.error && t.status !== "completed" ? section("Error", h("pre", { class: "json error", id: "error" }, t.error)) : section("Result", h("div", { id: "result" }, json(t.result))),
        ),
        t.progress !== undefined && section("Progress", h("div", { id: "progress" }, progressOf(t.progress))),
        h(
          "div",
          { class: "columns" },
          section("Timeline", h("ol", { class: "timeline", id: "timeline" }, ...timeline.sort((a, b) => a[0].localeCompare(b[0])).map(([at, what]) => h("li", {}, h("time", {}, time(at)), " ", what)))),
          section("Attempts", table(["#", "worker", "started", "finished", "error"], t.history.map((a) => [a.attempt, a.worker_id ?? "—", time(a.started_at), time(a.finished_at), a.error ?? "—"]), "no attempt has ended yet")),
        ),
        section(
          "Flow",
          h(
            "dl",
            { class: "facts", id: "flow" },
            t.flow && h("dt", {}, "flow"),
            t.flow && h("dd", {}, h("code", {}, t.flow)),
            h("dt", {}, "parents"),
            h("dd", {}, links(t.depends_on)),
            !!t.waiting_on?.length && h("dt", {}, "waiting on"),
            !!t.waiting_on?.length && h("dd", {}, links(t.waiting_on.filter((w) => !w.startsWith("flow:")))),
            h("dt", {}, "children"),
            h("dd", {}, links(t.children)),
          ),
        ),
      );
    });
  void render();
  return refreshOnEvents(ctx, (e) => e.task_id === id && (live.push(e), true), render);
};
