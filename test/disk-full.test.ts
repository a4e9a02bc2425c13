/**
 * A full disk: the JetStream store on a 64 MiB tmpfs mounted by the test, the server's file store
 * limited below it (56 MiB, so that JetStream refuses before the disk itself is full) and the work
 * stream at 24 MiB (`max_bytes`, discard new), which keeps room for the records that draining it
 * writes. Filled up: submissions get 507 storage_full_error, /health says `"storage": "full"`,
 * nothing acknowledged is lost; once workers drain it, submissions are accepted again by
 * themselves. Runs as root (CI does); anything else fails.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiscardPolicy } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createApi } from "../src/api/app.ts";
import { Edgeq } from "../src/client/client.ts";
import { StorageFullError } from "../src/wire/errors.ts";
import { WORK_STREAM } from "../src/wire/names.ts";
import type { Worker } from "../src/worker/mod.ts";
import { checkInvariants, RecordWatch } from "./helpers/invariants.ts";
import { NatsServer } from "./helpers/nats-server.ts";
import { eventually } from "./helpers/processes.ts";

const MIB = 2 ** 20;
const WORK_MAX_BYTES = 24 * MIB;
const dir = mkdtempSync(join(tmpdir(), "edgeq-disk-full-"));
const mnt = join(dir, "tmpfs");
let mounted = false;
let server: NatsServer | undefined;
let nc: NatsConnection | undefined;
let edgeq: Edgeq;
let api: ReturnType<typeof createApi>;
let worker: Worker | undefined;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the disk-full test mounts a tmpfs: run it as root (CI does)");
  execFileSync("mkdir", ["-p", mnt]);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt]);
  mounted = true;
  const config = join(dir, "server.conf");
  writeFileSync(config, "jetstream { max_file_store: 56MB }\n");
  server = await NatsServer.start({ config, storeDir: join(mnt, "store") });
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  edgeq = await Edgeq.open(nc, { ackWaitMs: 5000 });
  // As an operator would (nats stream edit EDGEQ_TASKS --max-bytes … --discard new).
  const { config: work } = await edgeq.jsm.streams.info(WORK_STREAM);
  await edgeq.jsm.streams.update(WORK_STREAM, { ...work, max_bytes: WORK_MAX_BYTES, discard: DiscardPolicy.New });
  api = createApi(edgeq, { onError: () => {} });
});
afterAll(async () => {
  await worker?.stop();
  await nc?.close();
  await server?.stop();
  if (mounted) execFileSync("umount", [mnt]);
  rmSync(dir, { recursive: true, force: true });
});

const post = (body: object) => api.request("/tasks", { method: "POST", body: JSON.stringify(body) });

test("a full store: 507 with a JSON error, /health says so, nothing acknowledged lost, and submissions resume once workers free space", async () => {
  const watch = await RecordWatch.start(edgeq);
  const data = "x".repeat(4096);
  const accepted: string[] = [];
  const started = Date.now();
  let refusal: unknown;
  while (!refusal) {
    const round = await Promise.allSettled(Array.from({ length: 200 }, () => edgeq.queue().submit("fill", data)));
    for (const r of round) {
      if (r.status === "fulfilled") accepted.push(r.value.id);
      else refusal ??= r.reason;
    }
    expect(Date.now() - started).toBeLessThan(120_000);
  }
  const filledIn = Date.now() - started;
  expect(refusal).toBeInstanceOf(StorageFullError);
  expect((refusal as Error).message).toMatch(/^storage is full \(maximum bytes exceeded\)/);

  const res = await post({ type: "fill", data });
  expect(res.status).toBe(507);
  expect(res.headers.get("retry-after")).toBe("1");
  expect(await res.json()).toMatchObject({ success: false, code: "storage_full_error", error: expect.stringMatching(/storage is full/) });
  const health = await api.request("/health");
  expect(health.status).toBe(200);
  const full = await health.json();
  expect(full).toMatchObject({ status: "healthy", storage: "full", storage_error: expect.stringMatching(/max_bytes 24\.0 MiB/) });
  // Everything acknowledged is stored.
  const state = (await edgeq.jsm.streams.info(WORK_STREAM)).state;
  expect(state.messages).toBe(accepted.length);

  // Workers drain the queue; submissions are accepted again without anyone doing anything else.
  const drainStarted = Date.now();
  worker = await edgeq.worker({ fill: () => null }, { concurrency: 50 });
  let refusedWhileDraining = 0;
  const again = await eventually(async () => {
    const r = await post({ type: "fill", data });
    if (r.status === 201) return (await r.json()).task_id as string;
    expect(r.status).toBe(507);
    refusedWhileDraining++;
    return null;
  }, 60_000, "a submission to be accepted again");
  accepted.push(again);
  const resumedAfter = Date.now() - drainStarted;
  await eventually(async () => (await (await api.request("/health")).json()).storage === "ok", 60_000, "/health to say storage ok");

  const invariants = await checkInvariants(edgeq, accepted, { logs: [watch], expectStatus: "completed", settleMs: 120_000 });
  const drainedIn = Date.now() - drainStarted;
  console.log(
    `disk-full: ${accepted.length - 1} tasks of 4 KiB filled the work stream's ${WORK_MAX_BYTES / MIB} MiB (${(state.bytes / MIB).toFixed(1)} MiB) in ${filledIn} ms; ` +
      `then 507 storage_full_error, /health storage "full"; workers started: a submission accepted again after ${resumedAfter} ms ` +
      `(${refusedWhileDraining} 507s meanwhile); all ${accepted.length} completed within ${drainedIn} ms, lost 0; invariants ${JSON.stringify(invariants)}`,
  );
  await watch.stop();
}, 300_000);

test("the server's store full (a stream without max_bytes took it): 507 insufficient resources, even for the work stream below its max_bytes, and submissions resume once space is freed", async () => {
  const watch = await RecordWatch.start(edgeq);
  await edgeq.jsm.streams.add({ name: "FILLER", subjects: ["filler.>"] });
  const chunk = new Uint8Array(64 * 1024);
  let filled = 0;
  for (;;) {
    const stored = await edgeq.js.publish("filler.x", chunk).then(() => true, (err) => err);
    if (stored !== true) {
      expect((stored as Error).message).toMatch(/insufficient resources/);
      break;
    }
    filled += chunk.length;
  }
  // nats-server 2.9 does not keep the work stream's max_bytes free for it: a plain task is refused too.
  for (const body of [{ type: "fill", data: 1 }, { type: "fill", data: 1, delay_ms: 60_000 }]) {
    const res = await post(body);
    expect(res.status).toBe(507);
    expect(await res.json()).toMatchObject({ code: "storage_full_error", error: expect.stringMatching(/^storage is full \(insufficient resources\)/) });
  }
  expect((await edgeq.jsm.streams.info(WORK_STREAM)).state.bytes).toBeLessThan(WORK_MAX_BYTES);
  // No stream info shows it: /health reports the refusals of the last 10 s.
  expect(await (await api.request("/health")).json()).toMatchObject({ storage: "full", storage_error: expect.stringMatching(/insufficient resources/) });

  const freedAt = Date.now();
  await edgeq.jsm.streams.delete("FILLER");
  const accepted = await eventually(async () => {
    const r = await post({ type: "fill", data: 2 });
    return r.status === 201 ? (await r.json()).task_id as string : (expect(r.status).toBe(507), null);
  }, 30_000, "a submission to be accepted again");
  const acceptedAfter = Date.now() - freedAt;
  await eventually(async () => (await (await api.request("/health")).json()).storage === "ok", 20_000, "/health to say storage ok");
  const invariants = await checkInvariants(edgeq, [accepted], { logs: [watch], expectStatus: "completed", settleMs: 60_000 });
  console.log(
    `disk-full, server store: another stream filled the remaining ${(filled / MIB).toFixed(1)} MiB; plain and delayed submissions got 507 ` +
      `(insufficient resources) with the work stream below its max_bytes; freed: accepted again after ${acceptedAfter} ms and completed; invariants ${JSON.stringify(invariants)}`,
  );
  await watch.stop();
}, 180_000);
