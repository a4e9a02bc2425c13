/**
 * What one HTTP client may cost the API: the limits the runtime's server applies before a request
 * reaches the app, and the time a route may take. Why these numbers: docs/architecture.md,
 * "Hardening".
 */

export interface ServeLimits {
  /** A client must have sent all its headers this long after it connected, or it is cut off (408). */
  headersTimeoutMs: number;
  /** A client must have sent its whole request (headers and body) within this. */
  requestTimeoutMs: number;
  /** Open connections at once; further ones are closed as they are accepted. */
  maxConnections: number;
  /** Bytes of the request line and headers together; more gets 431. */
  maxHeaderBytes: number;
}

export const SERVE_LIMITS: ServeLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 1024,
  maxHeaderBytes: 16 * 1024,
};

/** How long a route may take before it is answered 503 (its work may still finish); streams are exempt. */
export const ROUTE_TIMEOUT_MS = 15_000;

/** Nesting of a JSON body: a task's data deeper than this is refused before it is parsed. */
export const MAX_JSON_DEPTH = 64;

/** Members of one JSON object or elements of one array. */
export const MAX_JSON_WIDTH = 10_000;
