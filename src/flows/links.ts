/**
 * The links between tasks, in KV bucket `edgeq_flows`: `t.<task id>` lists the tasks waiting on that
 * task, `f.<flow id>` is a flow's gate (the flow's first tasks, and whether the flow is committed).
 * Every write is conditional on the revision read, so concurrent submitters merge their lists.
 */
import type { KV } from "@nats-io/kv";
import { isConflict } from "../tasks/mod.ts";

export interface Link {
  /** The tasks waiting on this task, or on this flow's gate. */
  children: string[];
  /** A task's: its work message does not say it has dependents, so the scheduler's sweep watches it (sweeper.ts). */
  watch?: true;
  /** A gate's: false until every task of the flow and every link is stored. */
  committed?: boolean;
}

export interface StoredLink {
  link: Link;
  revision: number;
}

/** Writes of one link before giving up on a key that keeps changing under it. */
const TRIES = 20;

const encoder = new TextEncoder();

export class Links {
  constructor(private readonly kv: KV) {}

  async get(key: string): Promise<StoredLink | null> {
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== "PUT") return null;
    return { link: entry.json<Link>(), revision: entry.revision };
  }

  /** Adds `children` to the key's list (made if missing); resolves with the link as stored. */
  async add(key: string, children: string[], watch: boolean): Promise<StoredLink> {
    for (let tries = 0; tries < TRIES; tries++) {
      const found = await this.get(key);
      const have = new Set(found?.link.children ?? []);
      const link: Link = { ...found?.link, children: [...have, ...children.filter((c) => !have.has(c))] };
      if (watch) link.watch = true;
      const revision = await this.#write(key, link, found?.revision ?? 0);
      if (revision !== null) return { link, revision };
    }
    throw new Error(`${key}: its links kept changing while they were written; try again`);
  }

  /** Writes `link` at `revision` (0: only if the key has no value); null when the key has moved on. */
  async #write(key: string, link: Link, revision: number): Promise<number | null> {
    const body = encoder.encode(JSON.stringify(link));
    try {
      return revision === 0 ? await this.kv.create(key, body) : await this.kv.update(key, body, revision);
    } catch (err) {
      if (isConflict(err) || (err as Error)?.message?.includes("wrong last sequence")) return null;
      throw err;
    }
  }

  put(key: string, link: Link, revision: number): Promise<number | null> {
    return this.#write(key, link, revision);
  }

  /** Removes the key if it is still at `revision`: a list grown meanwhile stays for whoever grew it. */
  async remove(key: string, revision: number): Promise<void> {
    try {
      await this.kv.delete(key, { previousSeq: revision });
    } catch (err) {
      if (!isConflict(err) && !(err as Error)?.message?.includes("wrong last sequence")) throw err;
    }
  }
}
