/** The systems under test, by name. */
import { bullmqSystem } from "./bullmq.ts";
import { edgeqSystem } from "./edgeq.ts";
import { jetstreamSystem } from "./jetstream.ts";
import type { System, SystemName } from "./system.ts";

export const SYSTEMS: Record<SystemName, System> = {
  edgeq: edgeqSystem,
  bullmq: bullmqSystem,
  jetstream: jetstreamSystem,
};
