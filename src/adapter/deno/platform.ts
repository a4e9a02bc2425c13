/// <reference lib="deno.ns" />
/**
 * Deno's side of edgeq, all but the NATS transport: Deno.serve, Deno signals, commands and files.
 * runtime.ts adds TCP (the npm transport, through Deno's Node compatibility) and websocket.ts adds
 * WebSocket, which imports nothing from Node.
 */
import type { Runtime } from "../runtime.ts";

export const denoPlatform: Omit<Runtime, "name" | "connect"> = {
  hostname: () => Deno.hostname(),
  env: (name) => Deno.env.get(name),
  onShutdown(fn) {
    Deno.addSignalListener("SIGINT", fn);
    Deno.addSignalListener("SIGTERM", fn);
  },
  readTextFile: (path) => Deno.readTextFile(path),
  serve: (fetch, port) =>
    new Promise((ready) => {
      const server = Deno.serve({ port, hostname: "0.0.0.0", onListen: () => {} }, fetch);
      ready({ port: server.addr.port, close: () => server.shutdown() });
    }),
  // Deno.serve hands its ServeHandlerInfo to the app as `env` (hono/deno's getConnInfo reads the same,
  // but importing it pulls Node built-ins into the WebSocket bundle).
  clientAddress: (c) => ((c.env as Deno.ServeHandlerInfo | undefined)?.remoteAddr as Deno.NetAddr | undefined)?.hostname,
  importModule: (path) => import(new URL(path, `file://${Deno.cwd()}/`).href),
  spawn(command, args) {
    try {
      const child = new Deno.Command(command, { args, stdout: "null", stderr: "null" }).spawn();
      return { exited: child.status.then((s) => s.code), kill: () => child.kill("SIGTERM") };
    } catch (err) {
      return { exited: Promise.reject(err), kill: () => {} };
    }
  },
  async isListening(hostname, port) {
    try {
      (await Deno.connect({ hostname, port })).close();
      return true;
    } catch {
      return false;
    }
  },
  makeDir: (path) => Deno.mkdir(path, { recursive: true }),
  exit: (code) => Deno.exit(code),
};
