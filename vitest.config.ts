import { configDefaults, defineConfig } from "vitest/config";

/**
 * The load tests run last, each alone: they take the machine for a minute (and judge memory and
 * refusals under it), and the suite's timing assertions, delayed tasks' lateness among them, would
 * otherwise measure them. So does the partition test: a cluster's elections and catch-ups on a
 * machine loaded by another file have lost acknowledged messages in nats-server 2.9.10 itself
 * (docs/architecture.md, Fault tests).
 */
const ALONE = ["test/partitions.test.ts", "test/overload.test.ts", "test/soak.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites spawn nats-server and worker processes; two cores run two files at a time well.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "suite", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...ALONE] } },
      ...ALONE.map((file, i) => ({ extends: true as const, test: { name: file.replace(/^test\/|\.test\.ts$/g, ""), include: [file], sequence: { groupOrder: i + 1 } } })),
    ],
  },
});
