/** Delayed tasks: the scheduler that promotes them when due, and its lease. */
export { Scheduler, type SchedulerOptions } from "./scheduler.ts";
export { type Schedule, type ScheduleInput, Schedules, scheduleSchema } from "./schedules.ts";
