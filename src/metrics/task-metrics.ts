/**
 * Counters and histograms of tasks, computed from their events: the API's from every event it
 * receives (all processes'), a worker's from the events it publishes itself. Like every
 * Prometheus counter they start at 0 when their process starts, and count what that process saw.
 */
import type { EventName, TaskEvent } from "../events/event.ts";
import type { Counter, Histogram, Registry } from "./registry.ts";

/** Seconds: from a millisecond to ten minutes, for waits and runs alike. */
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** The counter each event moves; `delayed` is a submission too. */
const COUNTED: Partial<Record<EventName, string>> = {
  submitted: "submitted",
  delayed: "submitted",
  completed: "completed",
  failed: "failed",
  dead: "dead",
  retried: "retried",
  canceled: "canceled",
};

const HELP: Record<string, string> = {
  submitted: "Tasks submitted (delayed ones included), by queue and type.",
  completed: "Tasks completed, by queue and type.",
  failed: "Tasks failed for good (a PermanentError), by queue and type.",
  dead: "Tasks dead: attempts used up, or unreadable, by queue and type.",
  retried: "Failed attempts that will be retried, by queue and type.",
  canceled: "Tasks canceled, by queue and type.",
};

export class TaskMetrics {
  readonly #counters = new Map<string, Counter>();
  readonly #wait: Histogram;
  readonly #run: Histogram;

  constructor(registry: Registry) {
    for (const [what, help] of Object.entries(HELP)) this.#counters.set(what, registry.counter(`edgeq_tasks_${what}_total`, help));
    this.#wait = registry.histogram("edgeq_task_wait_seconds", "From the work message stored (submitted, or promoted when due) to its first attempt's start.", BUCKETS);
    this.#run = registry.histogram("edgeq_task_run_seconds", "From the handler's start to its return (completed, failed, dead, retried).", BUCKETS);
  }

  observe(event: TaskEvent): void {
    const labels = { queue: event.queue, type: event.type };
    const counted = COUNTED[event.event];
    if (counted) this.#counters.get(counted)!.inc(labels);
    // A later attempt's wait counts its earlier runs and backoff: submit to start is the first's.
    if (typeof event.wait_ms === "number" && event.attempt === 1) this.#wait.observe(labels, event.wait_ms / 1000);
    if (typeof event.run_ms === "number") this.#run.observe(labels, event.run_ms / 1000);
  }
}
