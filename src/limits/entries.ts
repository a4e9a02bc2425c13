/**
 * The limits bucket's entries, read and written with the hot path's requests (a Direct Get, a
 * publish conditional on the entry's revision) rather than the KV client's, which adds a read to
 * each refused create.
 */
import { KV_OPERATION_HEADER, LIMITS_BUCKET } from "../wire/mod.ts";
import { expectRevision, isConflict } from "../tasks/mod.ts";
import type { Requests } from "../nats/mod.ts";

export const LIMITS_STREAM = `KV_${LIMITS_BUCKET}`;
const PREFIX = `$KV.${LIMITS_BUCKET}.`;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Entry<T> {
  value: T;
  revision: number;
}

export class LimitEntries {
  constructor(private readonly requests: Requests) {}

  /** The entry under `key`; null when there is none (or it is not edgeq's JSON). */
  async read<T>(key: string): Promise<Entry<T> | null> {
    const msg = await this.requests.lastOf(LIMITS_STREAM, PREFIX + key);
    if (!msg || msg.headers?.get(KV_OPERATION_HEADER)) return null;
    try {
      return { value: JSON.parse(decoder.decode(msg.data)) as T, revision: Number(msg.headers?.get("Nats-Sequence")) };
    } catch {
      return null;
    }
  }

  /** Writes `value` if the entry is still at `revision` (0: there is none); its new revision, or null when refused. */
  async put(key: string, value: unknown, revision: number): Promise<number | null> {
    try {
      return (await this.requests.publish(PREFIX + key, encoder.encode(JSON.stringify(value)), expectRevision(revision))).seq;
    } catch (err) {
      if (isConflict(err)) return null;
      throw err;
    }
  }
}

export function subjectOf(key: string): string {
  return PREFIX + key;
}
