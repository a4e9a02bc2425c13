/** Tasks that wait on others: dependencies and flows. */
export { type FlowSubmitted, Flows } from "./flows.ts";
export { type FlowInput, type FlowNodeInput, flowSchema, fromSnakeCase, planFlow } from "./graph.ts";
export { DependencySweeper } from "./sweeper.ts";
export { NO_PARENTS, type ParentOutcome, type Parents, readParents } from "./parents.ts";
