/** Delayed tasks: the scheduler that promotes them when due, and its lease. */
export { Scheduler, type SchedulerOptions } from "./scheduler.ts";
