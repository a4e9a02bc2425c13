/**
 * The users' permissions of deploy/nats-server.conf, read from the file itself, so that a test
 * giving the same rights another way (user JWTs in operator mode) cannot drift from it.
 */
import { readFileSync } from "node:fs";
import { ROOT } from "./processes.ts";

export interface UserPermissions {
  publish: string[];
  subscribe: string[];
}

/** The `allow` lists of the block `name` (ADMIN, API, WORKER) in deploy/nats-server.conf. */
export function confPermissions(name: string): UserPermissions {
  const text = readFileSync(`${ROOT}deploy/nats-server.conf`, "utf8").replace(/^\s*#.*$/gm, "");
  const block = new RegExp(`\\n  ${name} = \\{([\\s\\S]*?)\\n  \\}`).exec(text)?.[1];
  if (!block) throw new Error(`no block ${name} in deploy/nats-server.conf`);
  const allowed = (direction: string) => {
    const list = new RegExp(`${direction}:\\s*\\{\\s*allow:\\s*\\[([\\s\\S]*?)\\]`).exec(block)?.[1];
    if (!list) throw new Error(`no ${direction} allow list in ${name}`);
    return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  };
  return { publish: allowed("publish"), subscribe: allowed("subscribe") };
}
