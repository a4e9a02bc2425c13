/**
 * The benchmark (`npm run bench [-- --quick | --only latency,http | --tasks N]`; see args.ts).
 *
 * Runs every scenario for edgeq, BullMQ and raw JetStream, one system after the other, each
 * measurement on a fresh nats-server (or NATS_URL) and a fresh queue, with producers and workers in
 * their own processes; by default three rounds of each scenario, whose medians the table gives,
 * since one run's figures move with whatever else the machine is doing. Prints a Markdown table with the figures, edgeq's ratios to the others and
 * the issue's targets, and writes it as JSON and as an SVG chart to bench/results/.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "./args.ts";
import { chart } from "./chart.ts";
import { buildProcs, killChildren, ROOT } from "./children.ts";
import { mergeRounds, type Report, type Row } from "./results.ts";
import { SCENARIOS } from "./scenarios/mod.ts";
import { Session } from "./session.ts";
import { table } from "./table.ts";

const args = parseArgs(process.argv.slice(2));
const session = new Session(args.sizes, args.systems, process.env.REDIS_URL || "redis://127.0.0.1:6379", process.env.NATS_URL || undefined);

process.on("exit", killChildren);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killChildren();
    void session.close().finally(() => process.exit(130));
  });
}
await buildProcs();

const began = Date.now();
const report: Report = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? "unknown",
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    natsServer: process.env.NATS_URL ? "given by NATS_URL" : execFileSync("nats-server", ["--version"], { encoding: "utf8" }).trim(),
  },
  options: { quick: args.quick, systems: args.systems, rounds: args.rounds, sizes: args.sizes },
  rows: [],
  seconds: 0,
};

try {
  for (const name of args.scenarios) {
    const rounds: Row[][] = [];
    for (let n = 0; n < args.rounds; n++) {
      console.log(`${name}${args.rounds > 1 ? `, round ${n + 1} of ${args.rounds}` : ""}…`);
      rounds.push(await SCENARIOS[name](session.round(n)));
    }
    report.rows.push(...mergeRounds(rounds));
  }
} catch (err) {
  console.error(err);
  killChildren();
  await session.close();
  process.exit(1);
}
report.seconds = Math.round((Date.now() - began) / 1000);

const out = resolve(ROOT, args.out);
mkdirSync(out, { recursive: true });
const title = `edgeq benchmark, ${report.date.slice(0, 10)}, ${report.machine.cpus} cores${args.quick ? " (quick)" : ""}`;
writeFileSync(join(out, "latest.json"), JSON.stringify(report, null, 2) + "\n");
writeFileSync(join(out, "latest.svg"), chart(report.rows, args.systems, title));
console.log(`\n${table(report.rows, args.systems)}\n`);
console.log(`${title}; load average at start ${report.machine.loadAverageAtStart.join(", ")}; ${report.seconds} s. Written to ${out}/latest.json and latest.svg`);
process.exit(0);
