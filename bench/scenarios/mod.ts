/** The scenarios, in the order the runner runs them. */
import type { ScenarioName } from "../args.ts";
import type { Row } from "../results.ts";
import type { Session } from "../session.ts";
import { delayed } from "./delayed.ts";
import { http } from "./http.ts";
import { idle } from "./idle.ts";
import { latency } from "./latency.ts";
import { scaling } from "./scaling.ts";
import { throughput } from "./throughput.ts";

export const SCENARIOS: Record<ScenarioName, (session: Session) => Promise<Row[]>> = { throughput, latency, http, scaling, idle, delayed };
