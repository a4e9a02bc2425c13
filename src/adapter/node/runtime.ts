/** The Node.js side of edgeq: TCP transport, @hono/node-server, process signals. */
import type { getConnInfo } from "@hono/node-server/conninfo";
import { connect } from "@nats-io/transport-node";
import { spawn } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Runtime } from "../runtime.ts";
import { SERVE_LIMITS } from "../../api/limits.ts";

/** Set when the API starts serving: a worker process never loads the HTTP server. */
let connInfo: typeof getConnInfo;

/**
 * TypeScript worker modules go through tsx, loaded only for them: compiled ones run as they are.
 * tsx is an optional peer dependency (it brings esbuild's install script to every install).
 */
async function importModule(path: string): Promise<Record<string, unknown>> {
  if (/\.[cm]?tsx?$/.test(path)) {
    const tsx = await import("tsx/esm/api").catch(() => {
      throw new Error("a TypeScript module on Node needs tsx: `npm install tsx` (or compile it to .js, or run it on Deno or Bun)");
    });
    tsx.register();
  }
  return import(pathToFileURL(resolve(path)).href);
}

export const nodeRuntime: Runtime = {
  name: "node",
  hostname,
  env: (name) => process.env[name],
  onShutdown(fn) {
    process.once("SIGINT", fn);
    process.once("SIGTERM", fn);
  },
  connect,
  readTextFile: (path) => readFile(path, "utf8"),
  async serve(fetch, port, given) {
    const [{ serve }, conninfo] = await Promise.all([import("@hono/node-server"), import("@hono/node-server/conninfo")]);
    connInfo = conninfo.getConnInfo;
    const limits = { ...SERVE_LIMITS, ...given };
    const serverOptions = {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      // How often Node looks for clients past those time-outs (default 30 s, which would let a slow client stay that long).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs / 2),
    };
    return new Promise((ready, fail) => {
      const server = serve({ fetch, port, serverOptions }, (info) =>
        ready({
          port: info.port,
          close: () => new Promise((done) => server.close(() => done())),
        })
      );
      server.maxConnections = limits.maxConnections;
      // A taken port (EADDRINUSE): the command reports it in one line.
      server.once("error", fail);
    });
  },
  clientAddress: (c) => connInfo(c).remote.address,
  importModule,
  spawn(command, args) {
    const child = spawn(command, args, { stdio: "ignore" });
    return {
      exited: new Promise((done, fail) => {
        child.once("error", fail);
        child.once("exit", (code) => done(code));
      }),
      kill: () => child.kill("SIGTERM"),
    };
  },
  isListening: (host, port) =>
    new Promise((answer) => {
      const socket = tcpConnect(port, host);
      socket.once("connect", () => (socket.destroy(), answer(true)));
      socket.once("error", () => answer(false));
    }),
  makeDir: async (path) => void (await mkdir(path, { recursive: true })),
  exit: (code) => process.exit(code),
};
