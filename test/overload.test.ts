/**
 * Overload: clients submit far faster than the workers drain, into a queue bounded to MAX_LENGTH
 * tasks. The API answers 429 with Retry-After and a JSON error once it is full, its memory stays
 * within a bound while it refuses, and once the load stops every accepted task completes and
 * submissions are accepted again.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FINAL_STATUSES } from "../src/wire/record.ts";
import type { Worker } from "../src/worker/mod.ts";
import { EdgeqProcess, eventually, ROOT } from "./helpers/processes.ts";
import { RssWatch } from "./helpers/rss-watch.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();
const MAX_LENGTH = 500;
const LOAD_MS = 24_000;
const CLIENTS = 32;
/** Growth of the API's resident memory past its warm-up peak that the test allows, per cent. */
const RSS_BOUND_PCT = 20;
let api: EdgeqProcess;
let base: string;
let worker: Worker;

beforeAll(async () => {
  api = new EdgeqProcess(
    spawn(process.execPath, ["--import", "tsx", "test/fixtures/api-server.ts"], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: env.server.url, EDGEQ_MAX_LENGTH: String(MAX_LENGTH) },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    }),
  );
  base = `http://127.0.0.1:${await eventually(async () => /listening (\d+)/.exec(api.output)?.[1], 30_000, "the API to listen")}`;
  // About 200 tasks a second: 4 at a time, 20 ms each.
  worker = await env.edgeq.worker(
    { work: async () => void (await new Promise((r) => setTimeout(r, 20))) },
    { queues: ["q"], concurrency: 4, prefetch: 0 },
  );
});

afterAll(async () => {
  await worker?.stop();
  await api?.stop();
});

test("a full bounded queue answers 429 with Retry-After, the API's memory stays bounded, and everything accepted completes after", async () => {
  const accepted: string[] = [];
  const statuses = new Map<number, number>();
  const problems: string[] = [];
  const memory = new RssWatch({ api: () => api.proc.pid }, LOAD_MS / 2, 500);
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() - started < LOAD_MS) {
        const res = await fetch(`${base}/tasks`, { method: "POST", body: '{"type": "work", "queue": "q", "data": {"n": 1}}' });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const body = await res.json();
        if (res.status === 201) accepted.push(body.task_id);
        else if (res.status !== 429 || res.headers.get("retry-after") !== "1" || body.code !== "queue_full_error") {
          problems.push(`${res.status} ${res.headers.get("retry-after")} ${JSON.stringify(body)}`);
        }
      }
    }),
  );
  const rss = memory.stop();
  const loadS = (Date.now() - started) / 1000;
  const refused = statuses.get(429) ?? 0;

  const drainStarted = Date.now();
  const pending = new Set(accepted);
  await eventually(async () => {
    for (const id of [...pending]) {
      const task = await env.edgeq.tasks.get(id);
      if (task && FINAL_STATUSES.includes(task.status)) {
        expect(task.status).toBe("completed");
        pending.delete(id);
      }
    }
    return pending.size === 0;
  }, 120_000, "every accepted task to complete");
  const drainS = (Date.now() - drainStarted) / 1000;
  const after = await fetch(`${base}/tasks`, { method: "POST", body: '{"type": "work", "queue": "q"}' });

  console.log(
    `overload: ${loadS.toFixed(1)} s of ${CLIENTS} clients: ${accepted.length + refused + problems.length} submissions ` +
      `(${((accepted.length + refused) / loadS).toFixed(0)}/s), ${accepted.length} accepted (${(accepted.length / loadS).toFixed(0)}/s), ` +
      `${refused} refused with 429; API RSS warm-up peak ${rss.api.warmup_mb} MB, after ${rss.api.after_mb} MB (${rss.api.growth_pct} %; levels ${rss.api.levels_mb.join(" ")}); ` +
      `the ${accepted.length} accepted all completed, the last ${drainS.toFixed(1)} s after the load stopped; next submission ${after.status}`,
  );
  expect(problems.slice(0, 5)).toEqual([]);
  // Faster than the drain: most submissions were refused, and the queue was used up to its bound.
  expect(refused).toBeGreaterThan(accepted.length);
  expect(accepted.length).toBeGreaterThan(MAX_LENGTH);
  expect(rss.api.growth_pct).toBeLessThanOrEqual(RSS_BOUND_PCT);
  expect(after.status).toBe(201);
}, 240_000);
