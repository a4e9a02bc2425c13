/**
 * What the portable core needs from the runtime it runs on, which each adapter provides, and the
 * small text server the worker's metrics use.
 */
export type { Child, Runtime } from "./runtime.ts";
export { serveText } from "./serve-text.ts";
export type { TextAnswer, TextHandler, TextServer } from "./serve-text.ts";
