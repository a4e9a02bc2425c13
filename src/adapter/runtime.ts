/**
 * What the portable core needs from the runtime it runs on. Each adapter under src/adapter/
 * provides one, and nothing else in src/ imports Node or Deno APIs.
 */
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import type { Context } from "hono";
import type { ServeLimits } from "../api/limits.ts";

export interface Served {
  port: number;
  close(): Promise<void>;
}

export interface Child {
  /** Resolves when the process exits; rejects if it could not be started (e.g. not installed). */
  exited: Promise<number | null>;
  kill(): void;
}

export interface Runtime {
  /** Reported in worker heartbeats: node, deno, bun, or deno-websocket for a Deno worker on WebSocket. */
  name: string;
  hostname(): string;
  env(name: string): string | undefined;
  /** Runs `fn` on SIGINT or SIGTERM. */
  onShutdown(fn: () => void): void;
  connect(options: ConnectionOptions): Promise<NatsConnection>;
  /** Reads credentials and TLS files named in the settings. */
  readTextFile(path: string): Promise<string>;
  /**
   * Serves `fetch`, passing it the server's own bindings as Hono's `env` (where `clientAddress`
   * finds them), with `limits` (default SERVE_LIMITS) where the runtime's server can apply them.
   */
  serve(fetch: (request: Request, env?: unknown) => Response | Promise<Response>, port: number, limits?: Partial<ServeLimits>): Promise<Served>;
  /** The address of the client that sent the request a served `fetch` is answering. */
  clientAddress(c: Context): string | undefined;
  /** Imports a module named relative to the working directory. */
  importModule(path: string): Promise<Record<string, unknown>>;
  spawn(command: string, args: string[]): Child;
  /** Whether something accepts TCP connections there. */
  isListening(host: string, port: number): Promise<boolean>;
  makeDir(path: string): Promise<void>;
  exit(code: number): never;
}
