/**
 * Single servers from the deploy/ files on free loopback ports: a hub (server.conf, optionally with
 * the WebSocket listener) and the leaf node of an edge site that links to it (leaf.conf).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsNode } from "./nats-node.ts";
import { freePort, freePorts } from "./ports.ts";

export interface Hub {
  node: NatsNode;
  wsUrl: string;
  leafUrl: string;
  stop(): Promise<void>;
}

export async function startHub(options: { websocket?: boolean } = {}): Promise<Hub> {
  const [port, monitor, leaf, ws] = await freePorts(4);
  const store = mkdtempSync(join(tmpdir(), "edgeq-hub-"));
  const node = NatsNode.fromConfig("hub", options.websocket ? "server-websocket.conf" : "server.conf", {
    NATS_NAME: "hub",
    NATS_LISTEN: `127.0.0.1:${port}`,
    NATS_MONITOR: `127.0.0.1:${monitor}`,
    NATS_STORE: store,
    NATS_LEAF_LISTEN: `127.0.0.1:${leaf}`,
    ...(options.websocket && { NATS_WS_LISTEN: `127.0.0.1:${ws}` }),
  }, port);
  const stop = async () => {
    await node.kill("SIGTERM");
    rmSync(store, { recursive: true, force: true });
  };
  await node.start().catch(async (err) => {
    await stop();
    throw err;
  });
  return { node, wsUrl: `ws://127.0.0.1:${ws}`, leafUrl: `nats-leaf://127.0.0.1:${leaf}`, stop };
}

/** A leaf node without JetStream whose remote is `hubLeafUrls`; resolves once it accepts clients. */
export async function startLeaf(name: string, hubLeafUrls: string[]): Promise<NatsNode> {
  const port = await freePort();
  const node = NatsNode.fromConfig(name, "leaf.conf", {
    NATS_NAME: name,
    NATS_LISTEN: `127.0.0.1:${port}`,
    NATS_HUB_URLS: `[${hubLeafUrls.join(", ")}]`,
  }, port);
  await node.start();
  return node;
}
