/**
 * Keeps the benchmark harness working: runs its end-to-end scenario at a tiny size for edgeq and
 * raw JetStream (and BullMQ when Redis answers) and checks the shape of the JSON it writes. No
 * figure is judged: the machine running the tests is busy with other suites.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, expect, test } from "vitest";
import { mergeRounds, ratio, type Report, type Row, targetMet } from "../bench/results.ts";
import { table } from "../bench/table.ts";
import type { SystemName } from "../bench/systems/system.ts";
import { ROOT } from "./helpers/processes.ts";

const out = mkdtempSync(join(tmpdir(), "edgeq-bench-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function redisAnswers(): Promise<boolean> {
  const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379");
  return new Promise((resolve) => {
    const sock = connect(Number(url.port || 6379), url.hostname);
    sock.once("connect", () => (sock.destroy(), resolve(true)));
    sock.once("error", () => resolve(false));
  });
}

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    let output = "";
    const proc = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout.on("data", (d) => (output += d));
    proc.stderr.on("data", (d) => (output += d));
    proc.once("close", (code) => resolve({ code, output }));
  });
}

test("the benchmark's smoke run writes a table for every system it ran, with the median of its rounds", async () => {
  const systems: SystemName[] = ["edgeq", "jetstream", ...(await redisAnswers() ? ["bullmq" as const] : [])];
  const { code, output } = await run(["--smoke", "--rounds", "2", "--systems", systems.join(","), "--out", relative(ROOT, out)]);
  expect(code, output).toBe(0);

  const report = JSON.parse(readFileSync(join(out, "latest.json"), "utf8")) as Report;
  expect(report.options).toMatchObject({ systems, rounds: 2 });
  const figure = (metric: string) => report.rows.find((r) => r.metric.startsWith(metric))!;
  for (const system of systems) {
    for (const metric of ["submit alone", "drain a backlog", "end-to-end"]) {
      const rounds = figure(metric).rounds![system]!;
      expect(rounds, `${system} ${metric}`).toHaveLength(2);
      expect(Math.min(...rounds), `${system} ${metric}`).toBeGreaterThan(0);
      expect(figure(metric).values[system]).toBeCloseTo((rounds[0] + rounds[1]) / 2, 6);
    }
    expect(figure("sampled outcomes read back completed").values[system]).toBe(100);
  }
  // Each round began with another system.
  expect(output).toMatch(/round 1 of 2…\n {2}edgeq:[\s\S]*round 2 of 2…\n {2}jetstream:/);
  expect(readFileSync(join(out, "latest.svg"), "utf8")).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  // A ratio with the range of the rounds' own ratios.
  expect(output).toMatch(/\| 1 throughput \| end-to-end .*\| \d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\) \|/);
}, 240_000);

test("with rounds, a figure is the median of the rounds' figures and a ratio the median of the rounds' own ratios", () => {
  const round = (edgeq: number, bullmq: number): Row[] => [
    { scenario: "s", metric: "m", unit: "tasks/s", values: { edgeq, bullmq }, targets: [{ op: "≥", value: 2, vs: "bullmq" }] },
  ];
  // The rounds' ratios are 1, 3 and 0.5; the medians' ratio (20 / 10) would say 2.
  const [merged] = mergeRounds([round(10, 10), round(30, 10), round(20, 40)]);
  expect(merged.values).toEqual({ edgeq: 20, bullmq: 10 });
  expect(merged.rounds).toEqual({ edgeq: [10, 30, 20], bullmq: [10, 10, 40] });
  expect(ratio(merged, "bullmq")).toBe(1);
  expect(targetMet(merged, merged.targets![0], [merged])).toBe(false);
  expect(table([merged], ["edgeq", "bullmq"])).toContain("| 20 | 10 | 1.00× (0.50–3.00) | ≥ 2× bullmq | **no** |");
});

test("a row may have several targets, one relative to edgeq's own figure on another row of its scenario", () => {
  const row = (metric: string, edgeq: number, bullmq: number): Row => ({ scenario: "4 scaling", metric, unit: "tasks/s", values: { edgeq, bullmq } });
  const one = row("end-to-end, 1 worker (10 tasks)", 100, 50);
  const two: Row = {
    ...row("end-to-end, 2 workers (10 tasks)", 100, 40),
    targets: [{ op: ">", value: 1, vs: { row: "end-to-end, 1 worker" } }, { op: "≥", value: 2.5, vs: "bullmq" }, { op: "≥", value: 0.8, vs: "jetstream" }],
  };
  const elsewhere = { ...one, scenario: "1 throughput" };
  expect(two.targets!.map((t) => targetMet(two, t, [elsewhere, one, two]))).toEqual([false, true, undefined]);
  // Not measured: the row it is relative to, in the same scenario.
  expect(targetMet(two, two.targets![0], [elsewhere, two])).toBeUndefined();
  // Raw JetStream's ratios and targets name it the ceiling; a target whose figure is missing is "–".
  const shown = table([one, two], ["edgeq", "bullmq", "jetstream"]);
  expect(shown).toContain("| edgeq / bullmq | edgeq / ceiling | target | met |");
  expect(shown).toContain("| > 1× end-to-end, 1 worker; ≥ 2.5× bullmq; ≥ 0.8× ceiling | **no**; yes; – |");
});
