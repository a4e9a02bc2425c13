/**
 * Recurring tasks: schedules kept in the `edgeq_schedules` bucket, one entry per name. The process
 * that holds the scheduler's lease submits each tick's task (recurring.ts); this is how schedules are
 * made, read, paused and removed. Cron patterns are croner's: five fields, or six with seconds first.
 */
import { Cron } from "croner";
import { z } from "zod";
import type { Edgeq } from "../client/mod.ts";
import { parseInput, readEntries } from "../nats/mod.ts";
import {
  ConflictError,
  DEFAULT_PRIORITY,
  DEFAULT_QUEUE,
  NotFoundError,
  type Priority,
  prioritySchema,
  queueSchema,
  SCHEDULE_NAME_PATTERN,
  SCHEDULES_BUCKET,
  typeSchema,
} from "../wire/mod.ts";

export const scheduleSchema = z.strictObject({
  name: z.string({ error: "must be a string" }).regex(SCHEDULE_NAME_PATTERN, "must be 1-64 of A-Z a-z 0-9 _ -"),
  cron: z.string({ error: "must be a string" }).max(256, "must be at most 256 characters"),
  tz: z.string({ error: "must be a string" }).max(64, "must be at most 64 characters").optional(),
  type: typeSchema,
  data: z.unknown().optional(),
  priority: prioritySchema.optional(),
  queue: queueSchema.optional(),
}, { error: (issue) => (issue.code === "unrecognized_keys" ? undefined : "the body must be a JSON object") })
  .superRefine((s, ctx) => {
    try {
      pattern(s.cron, s.tz ?? "UTC").nextRun();
    } catch (err) {
      ctx.addIssue({ code: "custom", path: [/time zone/i.test((err as Error).message) ? "tz" : "cron"], message: (err as Error).message });
    }
  });
export type ScheduleInput = z.input<typeof scheduleSchema>;

/** A schedule as stored, and as `GET /schedules` returns it (with `next_run`). */
export interface Schedule {
  name: string;
  cron: string;
  tz: string;
  type: string;
  data: unknown;
  priority: Priority;
  queue: string;
  paused: boolean;
  created_at: string;
  /** The last tick submitted, in ms since the epoch; ticks are counted from `created_at` before the first. */
  last_tick: number | null;
  next_run?: string | null;
}

/** The cron pattern, never started: edgeq asks it for times, it fires nothing itself. */
export function pattern(cron: string, tz: string): Cron {
  return new Cron(cron, { timezone: tz, paused: true });
}

export class Schedules {
  constructor(private readonly edgeq: Edgeq) {}

  /** Makes or replaces a schedule; its ticks count from now. */
  async set(input: ScheduleInput | unknown): Promise<Schedule> {
    const s = parseInput(scheduleSchema, input, "schedule");
    const schedule: Schedule = {
      name: s.name,
      cron: s.cron,
      tz: s.tz ?? "UTC",
      type: s.type,
      data: s.data ?? null,
      priority: s.priority ?? DEFAULT_PRIORITY,
      queue: s.queue ?? DEFAULT_QUEUE,
      paused: false,
      created_at: new Date().toISOString(),
      last_tick: null,
    };
    await this.edgeq.buckets.schedules.put(s.name, JSON.stringify(schedule));
    return withNextRun(schedule);
  }

  async get(name: string): Promise<Schedule> {
    const found = await this.read(name);
    if (!found) throw new NotFoundError(`schedule ${name} not found`);
    return withNextRun(found.schedule);
  }

  /** The schedule and its revision, or null. */
  async read(name: string): Promise<{ schedule: Schedule; revision: number } | null> {
    if (!SCHEDULE_NAME_PATTERN.test(name)) return null;
    const entry = await this.edgeq.buckets.schedules.get(name);
    if (!entry || entry.operation !== "PUT") return null;
    return { schedule: entry.json<Schedule>(), revision: entry.revision };
  }

  async list(): Promise<Schedule[]> {
    const all = await readEntries<Schedule>(this.edgeq, SCHEDULES_BUCKET);
    return all.map(([, s]) => withNextRun(s)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async delete(name: string): Promise<void> {
    if (!(await this.read(name))) throw new NotFoundError(`schedule ${name} not found`);
    await this.edgeq.buckets.schedules.delete(name);
  }

  /** Pauses (no ticks are submitted; those missed are skipped) or resumes a schedule. */
  async setPaused(name: string, paused: boolean): Promise<Schedule> {
    for (let tries = 0; ; tries++) {
      const found = await this.read(name);
      if (!found) throw new NotFoundError(`schedule ${name} not found`);
      // Resumed, it counts its ticks from now: the ones missed while paused are skipped.
      const schedule = { ...found.schedule, paused, ...(!paused && found.schedule.paused && { last_tick: Date.now() }) };
      try {
        await this.edgeq.buckets.schedules.update(name, JSON.stringify(schedule), found.revision);
        return withNextRun(schedule);
      } catch (err) {
        // Written meanwhile (a tick recorded): read again.
        if (tries >= 4) throw new ConflictError(`schedule ${name} kept changing; try again`, { cause: err });
      }
    }
  }
}

function withNextRun(s: Schedule): Schedule {
  const from = new Date(s.last_tick ?? Date.parse(s.created_at));
  const next = s.paused ? null : pattern(s.cron, s.tz).nextRun(from);
  return { ...s, next_run: next ? next.toISOString() : null };
}
