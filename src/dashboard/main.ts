/**
 * Browser-only: the dashboard page's entry, bundled with uPlot by scripts/dashboard.ts into the
 * script /dashboard serves. Nothing in src/ imports this folder.
 *
 * The page asks for a bearer token when the API refuses it one, keeps it in sessionStorage, and
 * sends it on every call. Pages are chosen by the URL's hash (#/tasks, #/task/<id>, …).
 */
import "./style.css";
import { api, setToken, token, whenRefused } from "./api.ts";
import { h, replace } from "./dom.ts";
import { EventStream, type StreamState } from "./events.ts";
import { Rates, WINDOW_SECONDS } from "./rates.ts";
import type { View, ViewContext } from "./view.ts";
import { deadLetters } from "./views/dead-letters.ts";
import { overview } from "./views/overview.ts";
import { queues } from "./views/queues.ts";
import { schedules } from "./views/schedules.ts";
import { task, type TaskRecord } from "./views/task.ts";
import { tasks } from "./views/tasks.ts";

const PAGES: Array<[string, string, View]> = [
  ["", "Overview", overview],
  ["tasks", "Tasks", tasks],
  ["dead-letters", "Dead letters", deadLetters],
  ["schedules", "Schedules", schedules],
  ["queues", "Queues", queues],
];

const liveState = h("span", { class: "live connecting", id: "live" }, "connecting");
const tokenForm = tokenBox();
const nav = h("nav", {}, ...PAGES.map(([path, title]) => h("a", { href: `#/${path}`, "data-page": path }, title)));
const notice = h("div", { class: "notice", id: "notice", role: "status" });
const main = h("main", { id: "page" });
document.body.append(h("header", {}, h("a", { class: "brand", href: "#/" }, "edgeq"), nav, h("div", { class: "session" }, liveState, tokenForm)), notice, main);

const rates = new Rates();
const events = new EventStream(showStreamState);
events.on((e) => {
  if (e.event === "completed") rates.add("completed", e.task_id, e.at);
  else if (e.event === "failed" || e.event === "dead") rates.add("failed", e.task_id, e.at);
});

let noticeTimer: ReturnType<typeof setTimeout> | undefined;
const ctx: ViewContext = {
  events,
  rates,
  notify(message, kind = "ok") {
    replace(notice, h("div", { class: kind, "data-kind": kind }, message));
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => replace(notice), 8000);
  },
};

whenRefused((err) => {
  if (err.status === 401) tokenForm.classList.add("asking");
});

function showStreamState(state: StreamState, detail?: string): void {
  liveState.className = `live ${state}`;
  liveState.textContent = state === "live" ? "live" : state;
  liveState.title = detail ?? "";
}

function tokenBox(): HTMLFormElement {
  const placeholder = () => (token() ? "token in use" : "bearer token");
  const input = h("input", { type: "password", name: "token", placeholder: placeholder(), autocomplete: "off" });
  const form = h(
    "form",
    {
      class: `token${token() ? " set" : ""}`,
      id: "token-form",
      onsubmit: (e: Event) => {
        e.preventDefault();
        setToken(input.value.trim() || null);
        input.value = "";
        form.classList.toggle("set", !!token());
        input.placeholder = placeholder();
        form.classList.remove("asking");
        start();
      },
    },
    input,
    h("button", { type: "submit" }, "Use token"),
  );
  return form;
}

const BACKFILL = 1000;

/**
 * The last 15 minutes' outcomes from the records, so that the chart does not start empty. A full
 * page of one status covers only back to its earliest finish: before that the chart shows a gap.
 */
async function backfill(): Promise<void> {
  const since = Date.now() - WINDOW_SECONDS * 1000;
  let whole = since;
  for (const [status, outcome] of [["completed", "completed"], ["failed", "failed"], ["dead", "failed"]] as const) {
    const found = await api<{ tasks: TaskRecord[] }>(`/tasks?status=${status}&limit=${BACKFILL}`).then((r) => r.tasks, () => null);
    if (!found) return;
    const times = found.flatMap((t) => (t.finished_at ? [[t.id, Date.parse(t.finished_at)] as const] : []));
    for (const [id, at] of times) if (at > since) rates.add(outcome, id, at);
    if (found.length === BACKFILL) whole = Math.max(whole, Math.min(...times.map(([, at]) => at)));
  }
  rates.knownFrom(whole);
}

let leave = () => {};
function route(): void {
  const [, path = "", rest = ""] = /^#\/([^/?]*)(?:[/?](.*))?$/.exec(location.hash) ?? [];
  const page = path === "task" ? task : PAGES.find(([p]) => p === path)?.[2] ?? overview;
  nav.querySelectorAll("a").forEach((a) => a.classList.toggle("current", a.dataset.page === (path === "task" ? "tasks" : path)));
  leave();
  replace(notice); // an action's answer belongs to the page it was taken on
  leave = page(ctx, main, decodeURIComponent(rest));
}

function start(): void {
  events.start();
  void backfill();
  route();
}

addEventListener("hashchange", route);
start();
