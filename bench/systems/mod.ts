/**
 * The systems under test, by name. Each is imported only when asked for, so that a worker process
 * holds its own system's libraries and no other's: their memory is part of what is measured.
 */
import type { System, SystemName } from "./system.ts";

const LOADERS: Record<SystemName, () => Promise<System>> = {
  edgeq: async () => (await import("./edgeq.ts")).edgeqSystem,
  bullmq: async () => (await import("./bullmq.ts")).bullmqSystem,
  jetstream: async () => (await import("./jetstream.ts")).jetstreamSystem,
};

export function loadSystem(name: SystemName): Promise<System> {
  return LOADERS[name]();
}
