/**
 * Waiting for a task to end, woken by its events instead of polling. The record is read once to
 * learn the task's queue and type (so that the subscription gets that queue's and type's final
 * events, not the whole cluster's), the subscription is registered with the server, and the record
 * is read again: an outcome stored before the subscription was in place is found by that read, one
 * stored after it publishes an event the subscription sees. Events are at most once, so a slow read
 * goes on beside them, in case one is missed.
 */
import { FINAL_STATUSES, type TaskRecord } from "../wire/mod.ts";
import { FINAL_EVENTS } from "./event.ts";
import type { Events } from "./events.ts";
import type { EventSubscription } from "./subscription.ts";

/** The fallback read's first pause, and its longest: what a missed event can cost. */
const FALLBACK_FIRST_MS = 500;
const FALLBACK_MAX_MS = 2000;

export async function waitForOutcome(
  events: Events,
  get: (id: string) => Promise<TaskRecord | null>,
  id: string,
  timeoutMs: number,
  /** The fallback read's pauses (tests set them long, to see the events do the waking). */
  { fallbackFirstMs = FALLBACK_FIRST_MS, fallbackMaxMs = FALLBACK_MAX_MS } = {},
): Promise<TaskRecord | null> {
  const deadline = Date.now() + timeoutMs;
  // A failed read (a reconnect, a time-out) is no answer: keep waiting until the deadline.
  const read = () => get(id).catch(() => null);
  const first = await read();
  if (first && FINAL_STATUSES.includes(first.status)) return first;
  let wake: (() => void) | undefined;
  // Set by an event that came while a read was under way: that read may have missed the outcome.
  let signaled = false;
  const subscription = subscribeFinal(events, id, first, () => {
    signaled = true;
    wake?.();
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // Not past the deadline, nor long while NATS is away: the slow read covers what it would.
    const readyFor = Math.max(0, Math.min(deadline - Date.now(), FALLBACK_MAX_MS));
    await Promise.race([subscription?.ready().catch(() => {}), new Promise((r) => (timer = setTimeout(r, readyFor)))]);
    clearTimeout(timer);
    for (let pause = fallbackFirstMs; ; pause = Math.min(pause * 2, fallbackMaxMs)) {
      signaled = false;
      const record = await read();
      if (record && FINAL_STATUSES.includes(record.status)) return record;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      if (signaled) continue;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, Math.min(pause, left));
      });
      clearTimeout(timer);
      wake = undefined;
    }
  } finally {
    clearTimeout(timer);
    subscription?.close();
  }
}

/**
 * The task's final events: of its queue and type when its record names them (a raw message's may
 * not fit an event filter, nor a closed connection take a subscription: the slow read is left).
 */
function subscribeFinal(events: Events, id: string, record: TaskRecord | null, wake: () => void): EventSubscription | undefined {
  const filter = { taskId: id, event: [...FINAL_EVENTS] };
  for (const narrowed of [{ ...filter, queue: record?.queue, type: record?.type }, filter]) {
    try {
      return events.subscribe(narrowed, wake);
    } catch {
      // the next, wider filter; after it, none
    }
  }
  return undefined;
}
