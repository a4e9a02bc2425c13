/** Browser-only. The recurring tasks, with pause, resume and delete. */
import type { Schedule } from "../../delayed/schedules.ts";
import { api } from "../api.ts";
import { badge, h, replace, section, table, time } from "../dom.ts";
import { act, load, type View } from "../view.ts";

export const schedules: View = (ctx, root) => {
  const list = h("div", { id: "schedules" });
  const refresh = () =>
    load(list, async () => {
      const all = (await api<{ schedules: Schedule[] }>("/schedules")).schedules;
      const path = (s: Schedule) => `/schedules/${encodeURIComponent(s.name)}`;
      replace(
        list,
        table(
          ["name", "cron", "type", "queue", "next run", "state", ""],
          all.map((s) => [
            s.name,
            h("code", {}, `${s.cron} (${s.tz})`),
            s.type,
            s.queue,
            s.paused ? "—" : time(s.next_run),
            badge(s.paused ? "paused" : "running"),
            h(
              "div",
              { class: "actions" },
              s.paused
                ? h("button", { "data-resume": s.name, onclick: () => act(ctx, `resumed ${s.name}`, () => api(`${path(s)}/resume`, "POST"), refresh) }, "Resume")
                : h("button", { "data-pause": s.name, onclick: () => act(ctx, `paused ${s.name}`, () => api(`${path(s)}/pause`, "POST"), refresh) }, "Pause"),
              h("button", { class: "danger", "data-delete": s.name, onclick: () => confirm(`Delete the schedule ${s.name}?`) && act(ctx, `deleted ${s.name}`, () => api(path(s), "DELETE"), refresh) }, "Delete"),
            ),
          ]),
          "no recurring tasks",
        ),
      );
    });
  replace(root, section("Schedules", list));
  void refresh();
  return () => {};
};
