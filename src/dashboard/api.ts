/**
 * Browser-only (the dashboard's page; bundled by scripts/dashboard.ts, never imported by src/).
 * Calls to the API's routes with the bearer token the user entered, kept in sessionStorage: it
 * lasts as long as the tab and is sent only by this page's fetches, never as a cookie.
 */
const TOKEN_KEY = "edgeq.token";

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders(): Record<string, string> {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** Called with every refused call (401 or 403), so that the page can ask for a token or say why. */
let onRefused: (err: ApiError) => void = () => {};
export function whenRefused(fn: (err: ApiError) => void): void {
  onRefused = fn;
}

/** A JSON answer of the API; a 4xx or 5xx rejects with its `error` message. */
export async function api<T>(path: string, method = "GET", body?: unknown): Promise<T> {
  const headers: Record<string, string> = { ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new ApiError(res.status, (answer as { error?: string }).error ?? `${res.status} ${res.statusText}`);
    if (res.status === 401 || res.status === 403) onRefused(err);
    throw err;
  }
  return answer as T;
}

/** The tasks live workers report running, by id, with the worker's id: a first attempt has no record saying so until it ends. */
export async function runningOn(): Promise<Map<string, string>> {
  const { workers } = await api<{ workers: Array<{ id: string; running: string[] }> }>("/workers");
  return new Map(workers.flatMap((w) => w.running.map((task): [string, string] => [task, w.id])));
}
