/**
 * Bearer-token authentication of the HTTP API.
 *
 *   EDGEQ_API_TOKENS="<token>:<scope>,<scope>;<token>:<scope>"
 *   e.g. EDGEQ_API_TOKENS="Zk3...q9:submit,read;p0W...x2:read"
 *
 * Scopes: `read` for GET routes; `admin` for the control actions (see ADMIN_ROUTES: the dashboard's
 * actions); `submit` for every other method (POST /tasks, POST /schedules). A token has
 * exactly the scopes listed. Tokens are 16–256 characters of
 * `A-Z a-z 0-9 - . _ ~ + /`, optionally ending in `=` (RFC 6750's b64token, less nothing useful).
 * /health stays open. Without tokens the API is open, and the serve command says so.
 */
import { ForbiddenError, UnauthorizedError, ValidationError } from "../wire/mod.ts";

export const SCOPES = ["read", "submit", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiToken {
  /** "token 2": names the token in logs and keys its rate limit without repeating the secret. */
  label: string;
  secret: Uint8Array;
  scopes: ReadonlySet<Scope>;
}

const TOKEN_PATTERN = /^[A-Za-z0-9._~+/-]+=*$/;
const MIN_TOKEN_LENGTH = 16;
const MAX_TOKEN_LENGTH = 256;
const encoder = new TextEncoder();

/** Parses EDGEQ_API_TOKENS; error messages name entries by position, never by their secret. */
export function parseApiTokens(spec: string): ApiToken[] {
  const entries = spec.split(";").map((e) => e.trim()).filter(Boolean);
  const tokens = entries.map((entry, i): ApiToken => {
    const where = `entry ${i + 1}`;
    const [token, scopeList, ...extra] = entry.split(":");
    if (scopeList === undefined || extra.length) throw new ValidationError(`${where}: must be <token>:<scope>,<scope>`);
    if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH || !TOKEN_PATTERN.test(token)) {
      throw new ValidationError(
        `${where}: a token must be ${MIN_TOKEN_LENGTH}-${MAX_TOKEN_LENGTH} of A-Z a-z 0-9 - . _ ~ + / (and a trailing =)`,
      );
    }
    const scopes = scopeList.split(",").map((s) => s.trim());
    const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (unknown.length) throw new ValidationError(`${where}: unknown scope "${unknown[0]}"; scopes are ${SCOPES.join(", ")}`);
    return { label: `token ${i + 1}`, secret: encoder.encode(token), scopes: new Set(scopes as Scope[]) };
  });
  tokens.forEach((t, i) => {
    const twin = tokens.findIndex((other) => constantTimeEqual(other.secret, t.secret));
    if (twin !== i) throw new ValidationError(`entry ${i + 1}: repeats the token of entry ${twin + 1}`);
  });
  return tokens;
}

/**
 * Routes whose changes take `admin`: the control actions, which act on tasks others submitted
 * (requeueing and purging dead letters, canceling, pausing and resuming queues and schedules,
 * deleting schedules). Submitting takes only `submit`.
 */
const ADMIN_ROUTES = [
  /^\/dead-letters(\/|$)/,
  /^\/tasks\/(cancel|[^/]+\/cancel)$/,
  /^\/queues\/[^/]+\/(pause|resume)$/,
  /^\/schedules\/[^/]+(\/pause|\/resume)?$/,
];

/** The scope a request needs: reading for GET (and HEAD); for anything else, admin on admin routes, else submitting. */
export function requiredScope(method: string, path: string): Scope {
  if (method === "GET" || method === "HEAD") return "read";
  return ADMIN_ROUTES.some((route) => route.test(path)) ? "admin" : "submit";
}

/**
 * The token an Authorization header presents, if it has `scope`. Every configured token is compared,
 * each over its full length, so the time taken does not tell how much of a guess was right.
 */
export function authenticate(header: string | undefined, tokens: readonly ApiToken[], scope: Scope): ApiToken {
  const presented = /^Bearer +([^ ]+) *$/i.exec(header ?? "")?.[1];
  if (!presented) throw new UnauthorizedError("this API needs a bearer token: send Authorization: Bearer <token>");
  const bytes = encoder.encode(presented.slice(0, MAX_TOKEN_LENGTH + 1));
  let match: ApiToken | undefined;
  for (const token of tokens) {
    if (constantTimeEqual(token.secret, bytes)) match = token;
  }
  if (!match) throw new UnauthorizedError("the bearer token is not valid");
  if (!match.scopes.has(scope)) throw new ForbiddenError(`this token lacks the "${scope}" scope`);
  return match;
}

/**
 * Whether two byte strings are equal, in a time that depends only on the longer one's length: no
 * early exit on a length difference or on the first differing byte.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const length = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < length; i++) diff |= (i < a.length ? a[i] : 0) ^ (i < b.length ? b[i] : 0);
  return diff === 0;
}
