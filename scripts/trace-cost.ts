/**
 * What tracing costs a submission's message building (`node --import tsx scripts/trace-cost.ts`):
 * 100,000 task messages built as `Queue#encode` builds them, without the tracing check (as before
 * tracing), with it and no SDK registered, and with an SDK (no exporter) registered. Medians of 7 rounds.
 */
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { encodeTask, type TaskAddress } from "../src/wire/message.ts";
import { startSubmit, submitContext } from "../src/wire/tracing.ts";

const N = 100_000;
const ROUNDS = 7;
const policy = { maxAttempts: 3, backoff: "exponential:1000:60000", timeoutMs: null };
const address = (i: number): TaskAddress => ({ id: `task-${i}`, queue: "default", priority: "normal", policy });

function build(traced: boolean): void {
  for (let i = 0; i < N; i++) {
    const a = address(i);
    const parent = traced ? submitContext() : undefined;
    if (parent) {
      const t = startSubmit(parent, { type: "process", queue: a.queue, id: a.id });
      a.traceLines = t.lines;
      encodeTask("process", { n: i }, a, 1 << 20);
      t.span.end();
    } else encodeTask("process", { n: i }, a, 1 << 20);
  }
}

/** The check alone, as a submission and a run make it. */
function check(): number {
  let made = 0;
  for (let i = 0; i < N; i++) if (submitContext()) made++;
  return made;
}

const time = (fn: () => unknown) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
const median = (times: number[]) => times.sort((a, b) => a - b)[times.length >> 1];

/** Rounds of each kind alternate, so that the machine's load falls on both alike. */
function compare(): { before: number; noSdk: number; checkOnly: number } {
  const before: number[] = [];
  const noSdk: number[] = [];
  const checkOnly: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    before.push(time(() => build(false)));
    noSdk.push(time(() => build(true)));
    checkOnly.push(time(check));
  }
  return { before: median(before), noSdk: median(noSdk), checkOnly: median(checkOnly) };
}

build(false); // warm up
build(true);
const { before, noSdk, checkOnly } = compare();
trace.setGlobalTracerProvider(new BasicTracerProvider());
build(true);
const sdk = median(Array.from({ length: ROUNDS }, () => time(() => build(true))));
const per = (ms: number) => `${((ms * 1e6) / N).toFixed(0)} ns/task`;
console.log(`100,000 messages built: without the check ${before.toFixed(1)} ms (${per(before)}); with it, no SDK ${noSdk.toFixed(1)} ms (${per(noSdk)}); the check alone ${checkOnly.toFixed(2)} ms (${per(checkOnly)}); SDK registered ${sdk.toFixed(1)} ms (${per(sdk)})`);
