/// <reference lib="deno.ns" />
/**
 * The Deno side of edgeq: Deno.serve, Deno signals and commands. NATS goes over the same npm
 * transport as on Node (Deno runs it through its Node compatibility); use `wsconnect` from
 * @nats-io/nats-core instead where only WebSockets are available.
 */
import { connect } from "@nats-io/transport-node";
import { getConnInfo } from "hono/deno";
import type { Runtime } from "../../runtime.ts";

export const denoRuntime: Runtime = {
  name: "deno",
  hostname: () => Deno.hostname(),
  env: (name) => Deno.env.get(name),
  onShutdown(fn) {
    Deno.addSignalListener("SIGINT", fn);
    Deno.addSignalListener("SIGTERM", fn);
  },
  connect: (servers) => connect({ servers, maxReconnectAttempts: -1, name: "edgeq" }),
  serve: (fetch, port) =>
    new Promise((ready) => {
      const server = Deno.serve({ port, hostname: "0.0.0.0", onListen: () => {} }, fetch);
      ready({ port: server.addr.port, close: () => server.shutdown() });
    }),
  clientAddress: (c) => getConnInfo(c).remote.address,
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
