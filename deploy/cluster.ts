/**
 * A three-node NATS cluster with JetStream on loopback ports, booted from the files docker-compose.yml
 * boots (deploy/nats/cluster.conf; node 1 also listens for WebSocket). `npm run cluster` runs one; tests
 * use it to check replicated streams and to kill and restart nodes.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsNode } from "./nats-node.ts";
import { freePorts } from "./ports.ts";

export interface ClusterOptions {
  /** Where the nodes keep their JetStream stores (one folder each); a temporary folder, removed on stop, if absent. */
  storeDir?: string;
}

export class LocalCluster {
  private constructor(
    readonly nodes: NatsNode[],
    readonly wsPort: number,
    readonly monitorPorts: number[],
    readonly leafPorts: number[],
    private readonly tempDir: string | undefined,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<LocalCluster> {
    const tempDir = options.storeDir ? undefined : mkdtempSync(join(tmpdir(), "edgeq-cluster-"));
    const storeDir = options.storeDir ?? tempDir!;
    const ports = await freePorts(13);
    const [client, monitor, route, leaf] = [0, 3, 6, 9].map((i) => ports.slice(i, i + 3));
    const wsPort = ports[12];
    const routes = `[${route.map((p) => `nats://127.0.0.1:${p}`).join(", ")}]`;
    const nodes = [0, 1, 2].map((i) => {
      const name = `nats-${i + 1}`;
      mkdirSync(join(storeDir, name), { recursive: true });
      const env: Record<string, string> = {
        NATS_NAME: name,
        NATS_LISTEN: `127.0.0.1:${client[i]}`,
        NATS_MONITOR: `127.0.0.1:${monitor[i]}`,
        NATS_STORE: join(storeDir, name),
        NATS_LEAF_LISTEN: `127.0.0.1:${leaf[i]}`,
        NATS_CLUSTER_LISTEN: `127.0.0.1:${route[i]}`,
        NATS_ROUTES: routes,
        ...(i === 0 && { NATS_WS_LISTEN: `127.0.0.1:${wsPort}` }),
      };
      return NatsNode.fromConfig(name, i === 0 ? "cluster-websocket.conf" : "cluster.conf", env, client[i]);
    });
    const cluster = new LocalCluster(nodes, wsPort, monitor, leaf, tempDir);
    try {
      await Promise.all(nodes.map((n) => n.start()));
      await cluster.waitReady();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Client URLs of every node, for NATS_URL. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.wsPort}`;
  }

  /** Where a leaf node's remote points (NATS_HUB_URLS). */
  get leafUrls(): string[] {
    return this.leafPorts.map((p) => `nats-leaf://127.0.0.1:${p}`);
  }

  /** Waits until every running node reports itself healthy, JetStream included (`/healthz`). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const running = this.nodes.map((n, i) => [n, this.monitorPorts[i]] as const).filter(([n]) => n.running);
    for (const [node, port] of running) {
      let last = "";
      while (true) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/healthz`);
          if (res.ok) break;
          last = await res.text();
        } catch (err) {
          last = (err as Error).message;
        }
        if (Date.now() > deadline) throw new Error(`${node.name} not healthy after ${timeoutMs} ms: ${last}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Kills node `i` (0-2) at once, as a crash would. */
  kill(i: number): Promise<void> {
    return this.nodes[i].kill("SIGKILL");
  }

  /** Starts node `i` again on its ports and store, and waits until the cluster is healthy. */
  async restart(i: number): Promise<void> {
    await this.nodes[i].start();
    await this.waitReady();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill("SIGTERM")));
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
  }
}
