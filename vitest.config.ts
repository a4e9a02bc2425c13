import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites spawn nats-server and worker processes; two cores run two files at a time well.
    maxWorkers: 2,
  },
});
