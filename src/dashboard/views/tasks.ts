/**
 * Browser-only. The task list: filters by status, queue and type, a search by id, and pages by
 * cursor. The first page follows the events; later pages hold still while read.
 */
import { api, runningOn } from "../api.ts";
import { ago, badge, h, replace, section, table } from "../dom.ts";
import { load, refreshOnEvents, type View } from "../view.ts";
import type { TaskRecord } from "./task.ts";

const STATUSES = ["", "delayed", "pending", "running", "completed", "failed", "dead", "canceled"];
const PAGE = 25;

export const tasks: View = (ctx, root, param) => {
  const query = new URLSearchParams(param);
  const cursors: string[] = []; // the cursors of the pages before this one, to go back
  let cursor = "";
  const field = (name: string, placeholder: string) =>
    h("input", { name, placeholder, value: query.get(name) ?? "", autocomplete: "off", spellcheck: "false", list: `${name}-choices` });
  // Suggestions: the queues there are, and the types live workers handle.
  const queueChoices = h("datalist", { id: "queue-choices" });
  const typeChoices = h("datalist", { id: "type-choices" });
  void Promise.all([api<{ queues: Array<{ name: string }> }>("/queues"), api<{ workers: Array<{ types: string[] }> }>("/workers")]).then(([q, w]) => {
    replace(queueChoices, ...q.queues.map((queue) => h("option", { value: queue.name })));
    replace(typeChoices, ...[...new Set(w.workers.flatMap((worker) => worker.types))].sort().map((type) => h("option", { value: type })));
  }, () => {});
  const status = h("select", { name: "status" }, ...STATUSES.map((s) => h("option", { value: s, selected: query.get("status") === s }, s || "any status")));
  const queue = field("queue", "queue");
  const type = field("type", "type");
  const search = h("input", { name: "id", placeholder: "task id", autocomplete: "off", spellcheck: "false" });
  const list = h("div", { id: "task-list" });
  const pager = h("div", { class: "pager" });

  const filters = h(
    "form",
    {
      class: "filters",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const next = new URLSearchParams();
        for (const el of [status, queue, type]) if (el.value.trim()) next.set(el.name, el.value.trim());
        location.hash = `#/tasks?${next}`;
      },
    },
    status, queue, type, queueChoices, typeChoices, h("button", { type: "submit" }, "Filter"),
  );
  const finder = h(
    "form",
    {
      class: "filters",
      onsubmit: (e: Event) => {
        e.preventDefault();
        if (search.value.trim()) location.hash = `#/task/${encodeURIComponent(search.value.trim())}`;
      },
    },
    search, h("button", { type: "submit" }, "Open"),
  );
  replace(root, section("Tasks", h("div", { class: "toolbar" }, filters, finder), list, pager));

  const refresh = () =>
    load(list, async () => {
      const params = new URLSearchParams({ limit: String(PAGE) });
      for (const name of ["status", "queue", "type"]) if (query.get(name)) params.set(name, query.get(name)!);
      if (cursor) params.set("cursor", cursor);
      const [page, running] = await Promise.all([api<{ tasks: TaskRecord[]; next_cursor: string | null }>(`/tasks?${params}`), runningOn()]);
      replace(
        list,
        table(
          ["id", "type", "queue", "priority", "status", "attempts", "created", "finished"],
          page.tasks.map((t) => [
            h("a", { href: `#/task/${encodeURIComponent(t.id)}`, class: "mono" }, t.id),
            t.type,
            t.queue,
            t.priority,
            badge(t.status === "pending" && running.has(t.id) ? "running" : t.status),
            `${t.attempts} / ${t.max_attempts}`,
            ago(t.created_at),
            ago(t.finished_at),
          ]),
          "no tasks match",
        ),
      );
      replace(
        pager,
        h("button", { disabled: !cursors.length, onclick: () => ((cursor = cursors.pop() ?? ""), void refresh()) }, "← Newer"),
        h("span", { class: "muted" }, `page ${cursors.length + 1}`),
        h("button", { disabled: !page.next_cursor, onclick: () => (cursors.push(cursor), (cursor = page.next_cursor ?? ""), void refresh()) }, "Older →"),
      );
    });

  void refresh();
  return refreshOnEvents(ctx, () => !cursor, refresh);
};
