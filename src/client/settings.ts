/**
 * Every setting edgeq's commands take from the environment, in one place. The runtime hands in
 * the variables (`Runtime.env`); nothing here reads them itself. Values are checked at start-up
 * and a bad one is reported under the name of its variable, with what is expected. What each
 * variable means and its default: the table in docs/deploy.md, which a test keeps to `envSchema`.
 */
import { z } from "zod";
import { type ApiToken, parseApiTokens } from "../api/auth.ts";
import { configSchema, type EdgeqConfigInput } from "../nats/mod.ts";
import { queueSchema, ValidationError } from "../wire/mod.ts";
import { parseRateLimit, type RateLimit } from "../api/rate-limit.ts";
import { parseLimitsJson } from "../limits/limit.ts";
import { type WorkerOptions, workerOptionsSchema } from "../worker/mod.ts";

/** Reads one environment variable; `Runtime.env` is one. */
export type Env = (name: string) => string | undefined;

export interface NatsSettings {
  servers: string[];
  user?: string;
  password?: string;
  token?: string;
  nkeySeed?: string;
  nkeySeedFile?: string;
  credsFile?: string;
  /** Where this connection's replies arrive: `_INBOX` unless set, so that permissions can keep users' replies apart. */
  inboxPrefix?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface Settings {
  nats: NatsSettings;
  /** Only what the environment sets; the rest keeps the defaults of `configSchema`. */
  config: EdgeqConfigInput;
  /** Only what the environment sets, so a worker module's own options apply otherwise. */
  worker: WorkerOptions;
  port: number;
  api: { tokens: ApiToken[]; rateLimit: RateLimit | null };
}

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** A whole number, from text, within the bounds of the schema it feeds, with messages a person can act on. */
export function wholeNumber(target: z.ZodNumber) {
  const [min, max] = [target.minValue ?? 0, target.maxValue ?? Number.MAX_SAFE_INTEGER];
  return z
    .string()
    .optional()
    .transform((s) => (s === undefined || s.trim() === "" ? undefined : Number(s)))
    .pipe(
      z
        .number({ error: "must be a number" })
        .int("must be a whole number")
        .min(min, `must be at least ${min}`)
        .max(max, `must be at most ${max}`)
        .optional(),
    );
}

const text = z.string().optional().transform((s) => (s?.trim() ? s.trim() : undefined));

/** A variable read by a parser that throws, its message reported under the variable's name. */
function parsedBy<T>(parse: (text: string) => T) {
  return z
    .string()
    .optional()
    .transform((text, ctx): T => {
      try {
        return parse(text ?? "");
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
        return z.NEVER;
      }
    });
}
const config = configSchema.shape;
const worker = workerOptionsSchema.shape;

const envSchema = z
  .object({
    NATS_URL: z
      .string()
      .optional()
      .transform((s) => (s?.trim() ? s : DEFAULT_NATS_URL).split(",").map((u) => u.trim()))
      .pipe(
        z.array(
          // WebSocket URLs may have a path (a reverse proxy's /nats); TCP ones are host:port.
          z.string().regex(/^((nats|tls):\/\/)?[^\s/,]+$|^wss?:\/\/[^\s/,]+(\/[^\s,]*)?$/, "must be host:port or nats://, tls://, ws://, wss:// URLs, comma-separated"),
        ),
      ),
    NATS_USER: text,
    NATS_PASSWORD: text,
    NATS_TOKEN: text,
    NATS_NKEY_SEED: text.pipe(z.string().regex(/^SU[A-Z2-7]+$/, "must be a user NKey seed (starts with SU)").optional()),
    NATS_NKEY_SEED_FILE: text,
    NATS_CREDS: text,
    NATS_INBOX_PREFIX: text.pipe(z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be subject tokens without wildcards, such as _INBOX_api").optional()),
    NATS_TLS_CA: text,
    NATS_TLS_CERT: text,
    NATS_TLS_KEY: text,
    NATS_JS_DOMAIN: text.pipe(config.jsDomain),
    EDGEQ_REPLICAS: wholeNumber(config.replicas.unwrap()),
    EDGEQ_DUPLICATE_WINDOW_MS: wholeNumber(config.duplicateWindowMs.unwrap()),
    EDGEQ_ACK_WAIT_MS: wholeNumber(config.ackWaitMs.unwrap()),
    EDGEQ_MAX_ACK_PENDING: wholeNumber(config.maxAckPending.unwrap()),
    EDGEQ_RETENTION_MS: wholeNumber(config.retentionMs.unwrap()),
    EDGEQ_WORKER_TTL_MS: wholeNumber(config.workerTtlMs.unwrap()),
    EDGEQ_MAX_ATTEMPTS: wholeNumber(config.maxAttempts.unwrap()),
    EDGEQ_EVENTS: text.pipe(z.enum(["on", "off"], { error: "must be on or off" }).optional()),
    EDGEQ_CONCURRENCY: wholeNumber(worker.concurrency.unwrap()),
    EDGEQ_HEARTBEAT_MS: wholeNumber(worker.heartbeatIntervalMs.unwrap()),
    EDGEQ_SHUTDOWN_GRACE_MS: wholeNumber(worker.shutdownGraceMs.unwrap()),
    EDGEQ_METRICS_PORT: wholeNumber(worker.metricsPort.unwrap()),
    EDGEQ_QUEUES: text.pipe(
      z
        .string()
        .transform((s) => s.split(",").map((q) => q.trim()))
        .pipe(z.array(queueSchema))
        .optional(),
    ),
    PORT: wholeNumber(z.number().min(0).max(65535)).transform((p) => p ?? 5000),
    EDGEQ_API_TOKENS: parsedBy(parseApiTokens),
    EDGEQ_RATE_LIMIT: parsedBy(parseRateLimit),
    EDGEQ_LIMITS: parsedBy(parseLimitsJson),
  })
  .superRefine((env, ctx) => {
    const needs = (name: keyof typeof env, other: keyof typeof env) => {
      if (env[name] !== undefined && env[other] === undefined) ctx.addIssue({ code: "custom", path: [other], message: `must be set with ${name}` });
    };
    needs("NATS_USER", "NATS_PASSWORD");
    needs("NATS_PASSWORD", "NATS_USER");
    needs("NATS_TLS_CERT", "NATS_TLS_KEY");
    needs("NATS_TLS_KEY", "NATS_TLS_CERT");
    // nats.js takes TLS files only for TCP; a wss:// URL gets its TLS from the runtime.
    const ws = env.NATS_URL.find((url) => /^wss?:/.test(url));
    const tls = (["NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"] as const).find((n) => env[n]);
    if (ws && tls) ctx.addIssue({ code: "custom", path: [tls], message: `applies to TCP connections only, not to ${ws}` });
    const auth = (["NATS_USER", "NATS_TOKEN", "NATS_NKEY_SEED", "NATS_NKEY_SEED_FILE", "NATS_CREDS"] as const).filter((n) => env[n]);
    if (auth.length > 1) ctx.addIssue({ code: "custom", path: [auth[1]], message: `set one way to authenticate, not ${auth.join(" and ")}` });
  });

export type EnvName = keyof z.input<typeof envSchema>;
export const ENV_NAMES = Object.keys(envSchema.shape) as EnvName[];

/**
 * Reads and checks the settings. `overrides` take precedence over the environment (command-line
 * flags); `labels` names a variable in messages (e.g. "--port / PORT").
 */
export function readSettings(env: Env, overrides: Partial<Record<EnvName, string>> = {}, labels: Partial<Record<EnvName, string>> = {}): Settings {
  const raw = Object.fromEntries(ENV_NAMES.map((name) => [name, overrides[name] ?? env(name)]));
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => {
      const name = String(i.path[0]) as EnvName;
      return `${labels[name] ?? name}: ${i.message}`;
    });
    throw new ValidationError(where.join("; "));
  }
  const e = parsed.data;
  const tls = e.NATS_TLS_CA || e.NATS_TLS_CERT ? { caFile: e.NATS_TLS_CA, certFile: e.NATS_TLS_CERT, keyFile: e.NATS_TLS_KEY } : undefined;
  return {
    nats: defined({
      servers: e.NATS_URL,
      user: e.NATS_USER,
      password: e.NATS_PASSWORD,
      token: e.NATS_TOKEN,
      nkeySeed: e.NATS_NKEY_SEED,
      nkeySeedFile: e.NATS_NKEY_SEED_FILE,
      credsFile: e.NATS_CREDS,
      inboxPrefix: e.NATS_INBOX_PREFIX,
      tls: tls && defined(tls),
    }),
    config: defined({
      replicas: e.EDGEQ_REPLICAS,
      duplicateWindowMs: e.EDGEQ_DUPLICATE_WINDOW_MS,
      ackWaitMs: e.EDGEQ_ACK_WAIT_MS,
      maxAckPending: e.EDGEQ_MAX_ACK_PENDING,
      retentionMs: e.EDGEQ_RETENTION_MS,
      workerTtlMs: e.EDGEQ_WORKER_TTL_MS,
      maxAttempts: e.EDGEQ_MAX_ATTEMPTS,
      jsDomain: e.NATS_JS_DOMAIN,
      events: e.EDGEQ_EVENTS === undefined ? undefined : e.EDGEQ_EVENTS === "on",
      types: e.EDGEQ_LIMITS?.types,
      keys: e.EDGEQ_LIMITS?.keys,
    }),
    worker: defined({
      concurrency: e.EDGEQ_CONCURRENCY,
      heartbeatIntervalMs: e.EDGEQ_HEARTBEAT_MS,
      shutdownGraceMs: e.EDGEQ_SHUTDOWN_GRACE_MS,
      metricsPort: e.EDGEQ_METRICS_PORT,
      queues: e.EDGEQ_QUEUES,
    }),
    port: e.PORT,
    api: { tokens: e.EDGEQ_API_TOKENS, rateLimit: e.EDGEQ_RATE_LIMIT },
  };
}

/** Drops the keys whose value is undefined. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
