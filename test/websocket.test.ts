/**
 * Workers for runtimes that only speak WebSocket: the Deno entry src/adapter/deno/websocket.ts
 * connects with `wsconnect` to a nats-server booted from deploy/nats/server-websocket.conf, and
 * neither it nor anything it imports needs a Node built-in (checked by bundling it for browsers,
 * where no Node built-in resolves).
 */
import { build } from "esbuild";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type Hub, startHub } from "../deploy/edge-site.ts";
import { Edgeq } from "../src/client/client.ts";
import { type EdgeqProcess, ROOT, runEdgeq } from "./helpers/processes.ts";

let hub: Hub;
let nc: NatsConnection;
let edgeq: Edgeq;
const procs: EdgeqProcess[] = [];

beforeAll(async () => {
  hub = await startHub({ websocket: true });
  nc = await connect({ servers: hub.node.url });
  edgeq = await Edgeq.open(nc);
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await nc?.close();
  await hub?.stop();
});

test("a Deno worker connected over WebSocket only processes tasks and reports itself", async () => {
  const worker = runEdgeq("deno-websocket", ["worker", "workers/demo.ts"], { NATS_URL: hub.wsUrl });
  procs.push(worker);
  const id = await worker.workerId();
  const submitted = await edgeq.queue().submitMany(
    Array.from({ length: 10 }, (_, i) => ({ type: "process", data: `over websocket ${i}` })),
  );
  for (const [i, task] of submitted.entries()) {
    expect(await edgeq.tasks.waitFor(task.id, 10_000)).toMatchObject({
      status: "completed",
      worker_id: id,
      result: { processed: `OVER WEBSOCKET ${i}` },
    });
  }
  expect(await edgeq.workers()).toContainEqual(expect.objectContaining({ id, runtime: "deno-websocket" }));
  worker.kill("SIGTERM");
  expect(await worker.exited).toBe(0);
});

/** Bundles an entry as for a browser; resolves with the bundled files and the imports they make. */
async function bundleForBrowsers(entry: string) {
  const result = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    write: false,
    metafile: true,
    // "browser" rather than "neutral": tweetnacl (under the NKey code) has a guarded `require("crypto")`
    // for old Node that its package.json maps away for browsers. A real Node import still fails to resolve.
    platform: "browser",
    format: "esm",
    logLevel: "silent",
  });
  const inputs = Object.keys(result.metafile.inputs);
  const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
  return { inputs, imports };
}

test("the WebSocket entry bundles for browsers without any Node built-in", async () => {
  const { inputs, imports } = await bundleForBrowsers("src/adapter/deno/websocket.ts");
  expect(inputs).toContainEqual(expect.stringContaining("@nats-io/nats-core"));
  expect(inputs).toContainEqual(expect.stringContaining("src/worker/worker.ts"));
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  expect(imports.filter((path) => builtins.has(path) || path.startsWith("node:"))).toEqual([]);
  expect(inputs.filter((path) => path.includes("transport-node"))).toEqual([]);
});

test("the same check rejects the TCP entry, which needs Node's sockets", async () => {
  await expect(bundleForBrowsers("src/adapter/deno/main.ts")).rejects.toThrow(/Could not resolve "node:/);
});
