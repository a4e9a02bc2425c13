/** Browser-only. The dead letters, with requeue and purge, one or all. */
import type { DeadLetter } from "../../tasks/mod.ts";
import { api } from "../api.ts";
import { ago, h, replace, section, table } from "../dom.ts";
import { act, load, refreshOnEvents, type View } from "../view.ts";

export const deadLetters: View = (ctx, root) => {
  const list = h("div", { id: "dead-letters" });
  const refresh = () =>
    load(list, async () => {
      const { dead_letters } = await api<{ dead_letters: DeadLetter[] }>("/dead-letters?limit=200");
      const path = (d: DeadLetter) => `/dead-letters/${encodeURIComponent(d.id)}`;
      replace(
        list,
        table(
          ["id", "type", "queue", "reason", "attempts", "dead", ""],
          dead_letters.map((d) => [
            h("a", { href: `#/task/${encodeURIComponent(d.id)}`, class: "mono" }, d.id),
            d.type ?? "—",
            d.queue ?? "—",
            h("span", { class: "reason", title: d.reason }, d.reason),
            d.attempts,
            ago(d.dead_at),
            h(
              "div",
              { class: "actions" },
              h("button", { "data-requeue": d.id, onclick: () => act(ctx, `requeued ${d.id}`, () => api(`${path(d)}/requeue`, "POST"), refresh) }, "Requeue"),
              h("button", { class: "danger", "data-purge": d.id, onclick: () => act(ctx, `purged ${d.id}`, () => api(path(d), "DELETE"), refresh) }, "Purge"),
            ),
          ]),
          "no dead letters",
        ),
      );
    });
  const all = h(
    "div",
    { class: "actions" },
    h("button", { onclick: () => act(ctx, "requeued every dead letter", () => api("/dead-letters/requeue", "POST"), refresh) }, "Requeue all"),
    h("button", { class: "danger", onclick: () => confirm("Purge every dead letter? Their tasks are lost.") && act(ctx, "purged every dead letter", () => api("/dead-letters", "DELETE"), refresh) }, "Purge all"),
  );
  replace(root, section("Dead letters", all, list));
  void refresh();
  return refreshOnEvents(ctx, (e) => e.event === "dead", refresh);
};
