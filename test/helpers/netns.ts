/**
 * Test hosts made of Linux network namespaces, linked by veth pairs, so that a test
 * can cut a link with `ip link set … down` and heal it with `up` (tc netem is not available).
 * Every address is in 10.213.0.0/16 and exists only on the veths made here; `Lab.destroy()` removes
 * every namespace, link and process the lab made, and is safe to call after a partial setup.
 * Needs root: `Lab.create()` throws if the test does not run as root, so that CI (root) never skips.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { edgeqCommand, ROOT } from "../../deploy/commands.ts";
import { NatsNode } from "../../deploy/nats-node.ts";
import { EdgeqProcess } from "./processes.ts";

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

/** A cuttable link: `end` is the interface (in namespace `ns`, else the root one) that `cut` takes down. */
export class Link {
  constructor(readonly end: string, readonly addresses: [string, string], readonly ns?: string) {}

  cut(): void {
    this.#set("down");
  }

  heal(): void {
    this.#set("up");
  }

  #set(state: "up" | "down"): void {
    ip(...(this.ns ? ["-n", this.ns] : []), "link", "set", this.end, state);
  }
}

export class Lab {
  readonly namespaces: string[] = [];
  readonly #rootLinks: string[] = [];
  readonly #procs: { stop(): Promise<void> }[] = [];
  #links = 0;
  /** A third octet for this process's subnets, so that two labs on one machine do not collide. */
  readonly #octet = 16 + (process.pid % 40) * 6;

  private constructor(readonly tag: string) {}

  static create(): Lab {
    if (process.getuid?.() !== 0) {
      throw new Error("the partition tests make network namespaces and veth pairs: run them as root (CI does)");
    }
    return new Lab(`eq${process.pid % 100000}`);
  }

  /** A new namespace, its loopback up. */
  host(name: string): string {
    const ns = `${this.tag}-${name}`;
    ip("netns", "add", ns);
    this.namespaces.push(ns);
    ip("-n", ns, "link", "set", "lo", "up");
    return ns;
  }

  /**
   * A veth pair from namespace `from` (null: the root namespace) to `to`, a /30 of its own: `from`'s
   * end gets .1, `to`'s .2. `cut` takes down `from`'s end, which cuts the two apart.
   */
  link(from: string | null, to: string): Link {
    const n = this.#links++;
    const [o1, o2] = [this.#octet + (n >> 6), (n & 63) * 4];
    const [a, b] = [1, 2].map((k) => `10.213.${o1}.${o2 + k}`);
    const [end, peer] = [`${this.tag}a${n}`, `${this.tag}b${n}`];
    const inFrom = from ? ["-n", from] : [];
    ip(...inFrom, "link", "add", end, "type", "veth", "peer", "name", peer, "netns", to);
    if (!from) this.#rootLinks.push(end);
    ip(...inFrom, "addr", "add", `${a}/30`, "dev", end);
    ip("-n", to, "addr", "add", `${b}/30`, "dev", peer);
    ip(...inFrom, "link", "set", end, "up");
    ip("-n", to, "link", "set", peer, "up");
    return new Link(end, [a, b], from ?? undefined);
  }

  /** A nats-server with JetStream inside `ns`, listening on every address there (only this lab's veths). */
  async natsServer(ns: string, name: string, args: string[], env: Record<string, string> = {}, port = 4222): Promise<NatsNode> {
    const node = new NatsNode(name, ["-a", "0.0.0.0", "-p", String(port), "-js", ...args], env, port, ["ip", "netns", "exec", ns]);
    this.#procs.push({ stop: () => node.kill("SIGKILL") });
    await node.start();
    return node;
  }

  /** The `edgeq` command (Node) inside `ns`. */
  edgeq(ns: string, args: string[], env: Record<string, string>): EdgeqProcess {
    const run = edgeqCommand("node", args);
    const proc: ChildProcess = spawn("ip", ["netns", "exec", ns, run.command, ...run.args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const edgeq = new EdgeqProcess(proc);
    this.#procs.push(edgeq);
    return edgeq;
  }

  /** Stops what the lab started, then removes its namespaces and links; errors are collected, not thrown midway. */
  async destroy(): Promise<void> {
    await Promise.all(this.#procs.map((p) => p.stop().catch(() => {})));
    for (const end of this.#rootLinks) {
      try {
        ip("link", "del", end);
      } catch {
        // gone with its peer's namespace
      }
    }
    for (const ns of this.namespaces) ip("netns", "del", ns);
  }
}
