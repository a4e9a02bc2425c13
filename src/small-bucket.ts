/**
 * Reading every live entry of a small KV bucket (heartbeats, counts, queue states): its keys from
 * one stream info, then one Direct Get each (matched replies). No consumer is created, so /health,
 * /workers and /queues stay cheap under load; nats.js's `kv.keys()`, an ordered consumer, stalled them.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { KV_OPERATION_HEADER } from "./names.ts";
import type { Requests } from "./requests.ts";

/** What reading a bucket takes: its stream's subject counts, and Direct Gets. */
export interface BucketReader {
  jsm: JetStreamManager;
  requests: Requests;
}

const decoder = new TextDecoder();

/** Every live entry, as [key, parsed JSON value]; entries that are not JSON are skipped. */
export async function readEntries<T>({ jsm, requests }: BucketReader, bucket: string): Promise<[string, T][]> {
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(stream, { subjects_filter: `${prefix}>` });
  const subjects = Object.keys(info.state.subjects ?? {});
  const entries = await Promise.all(subjects.map((subject) => requests.lastOf(stream, subject)));
  return entries.flatMap((entry, i): [string, T][] => {
    // Gone since the listing, or a delete marker: not live.
    if (!entry || entry.headers?.get(KV_OPERATION_HEADER)) return [];
    try {
      return [[subjects[i].slice(prefix.length), JSON.parse(decoder.decode(entry.data)) as T]];
    } catch {
      return []; // not written by edgeq
    }
  });
}
