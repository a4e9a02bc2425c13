/** Browser-only. The queues, with pause and resume. */
import type { QueueSummary as Queue } from "../../client/mod.ts";
import { api } from "../api.ts";
import { badge, h, replace, section, table, time } from "../dom.ts";
import { act, load, refreshOnEvents, type View } from "../view.ts";

export const queues: View = (ctx, root) => {
  const list = h("div", { id: "queues" });
  const refresh = () =>
    load(list, async () => {
      const all = (await api<{ queues: Queue[] }>("/queues")).queues;
      const path = (q: Queue) => `/queues/${encodeURIComponent(q.name)}`;
      replace(
        list,
        table(
          ["queue", "pending (high / normal / low)", "running", "unserved types", "state", ""],
          all.map((q) => [
            h("a", { href: `#/tasks?queue=${encodeURIComponent(q.name)}` }, q.name),
            `${q.pending.high ?? 0} / ${q.pending.normal ?? 0} / ${q.pending.low ?? 0}`,
            q.running,
            q.unserved_types.join(", ") || "—",
            q.paused ? h("span", {}, badge("paused"), ` since ${time(q.paused_at)}`) : badge("running"),
            q.paused
              ? h("button", { "data-resume": q.name, onclick: () => act(ctx, `resumed ${q.name}`, () => api(`${path(q)}/resume`, "POST"), refresh) }, "Resume")
              : h("button", { "data-pause": q.name, onclick: () => act(ctx, `paused ${q.name}`, () => api(`${path(q)}/pause`, "POST"), refresh) }, "Pause"),
          ]),
          "no queues yet",
        ),
      );
    });
  replace(root, section("Queues", list));
  void refresh();
  return refreshOnEvents(ctx, () => true, refresh);
};
