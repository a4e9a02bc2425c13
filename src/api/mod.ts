/** The HTTP API's one door: a Hono app any runtime can serve. */
export { createApi } from "./app.ts";
export { MAX_BATCH } from "./schemas.ts";
export { constantTimeEqual, parseApiTokens, SCOPES } from "./auth.ts";
export { parseRateLimit, RateLimiter } from "./rate-limit.ts";
export type { ApiOptions } from "./app.ts";
export type { ApiToken, Scope } from "./auth.ts";
export type { RateLimit } from "./rate-limit.ts";
