/**
 * Reading every live entry of a small KV bucket (heartbeats, counts, queue states): its keys from
 * one stream info, then one Direct Get each (matched replies). No consumer is created, so /health,
 * /workers and /queues stay cheap under load; nats.js's `kv.keys()`, an ordered consumer, stalled them.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { KV_OPERATION_HEADER } from "../wire/mod.ts";
import type { Requests } from "./requests.ts";

/** What reading a bucket takes: its stream's subject counts, and Direct Gets. */
export interface BucketReader {
  jsm: JetStreamManager;
  requests: Requests;
}

const decoder = new TextDecoder();

/** Every live entry, as [key, parsed JSON value]; entries that are not JSON are skipped. */
export async function readEntries<T>({ jsm, requests }: BucketReader, bucket: string): Promise<[string, T][]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  const values = await Promise.all(keys.map((key) => readEntry<T>({ jsm, requests }, bucket, key)));
  return keys.flatMap((key, i): [string, T][] => (values[i] === null ? [] : [[key, values[i]]]));
}

/** The entry under `key`, parsed; null when there is none, it was deleted, or it is not JSON. */
export async function readEntry<T>({ requests }: BucketReader, bucket: string, key: string): Promise<T | null> {
  const entry = await requests.lastOf(`KV_${bucket}`, `$KV.${bucket}.${key}`);
  // Gone since a listing, or a delete marker: not live.
  if (!entry || entry.headers?.get(KV_OPERATION_HEADER)) return null;
  try {
    return JSON.parse(decoder.decode(entry.data)) as T;
  } catch {
    return null; // not written by edgeq
  }
}
