/**
 * The configuration surface: environment variables, checked at start-up with messages that name the
 * variable, and carried through to the connection (credentials, TLS) and to what edgeq creates.
 */
import { createUser } from "@nats-io/nkeys";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { NatsServer } from "./helpers/nats-server.ts";
import { consumerName, STATS_BUCKET, WORK_STREAM } from "../src/wire/names.ts";
import { ENV_NAMES, readSettings } from "../src/client/settings.ts";
import { type EdgeqProcess, runEdgeq } from "./helpers/processes.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

describe("readSettings", () => {
  test("with nothing set: the local server, port 5000, and no overrides", () => {
    expect(readSettings(envOf({}))).toEqual({
      nats: { servers: ["nats://127.0.0.1:4222"] },
      config: {},
      worker: {},
      port: 5000,
      api: { tokens: [], rateLimit: null },
    });
  });

  test("docs/deploy.md's table documents every variable the settings read, and no other", () => {
    const doc = readFileSync(new URL("../docs/deploy.md", import.meta.url), "utf8");
    const table = doc.slice(doc.indexOf("| variable | default | what |")).split("\n\n")[0];
    const documented = table.split("\n").flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]));
    expect(documented.sort()).toEqual([...ENV_NAMES].sort());
  });

  test("a WebSocket URL may have a path, as behind a reverse proxy", () => {
    expect(readSettings(envOf({ NATS_URL: "wss://hub.example.com/nats,ws://10.0.0.2:8080" })).nats.servers).toEqual([
      "wss://hub.example.com/nats",
      "ws://10.0.0.2:8080",
    ]);
  });

  test("every variable lands in its place", () => {
    const settings = readSettings(envOf({
      NATS_URL: "nats://a:4222, nats://b:4222",
      NATS_TOKEN: "s3cret",
      NATS_TLS_CA: "/ca.pem",
      NATS_JS_DOMAIN: "hub",
      EDGEQ_REPLICAS: "3",
      EDGEQ_ACK_WAIT_MS: "45000",
      EDGEQ_RETENTION_MS: "3600000",
      EDGEQ_DUPLICATE_WINDOW_MS: "60000",
      EDGEQ_MAX_ACK_PENDING: "500",
      EDGEQ_WORKER_TTL_MS: "20000",
      EDGEQ_MAX_ATTEMPTS: "5",
      EDGEQ_CONCURRENCY: "4",
      EDGEQ_HEARTBEAT_MS: "2000",
      EDGEQ_SHUTDOWN_GRACE_MS: "0",
      EDGEQ_QUEUES: "images, email",
      PORT: "8080",
      EDGEQ_API_TOKENS: "reader-token-0123456789:read",
      EDGEQ_RATE_LIMIT: "20/s",
    }));
    expect(settings).toEqual({
      nats: { servers: ["nats://a:4222", "nats://b:4222"], token: "s3cret", tls: { caFile: "/ca.pem" } },
      config: {
        replicas: 3,
        ackWaitMs: 45_000,
        retentionMs: 3_600_000,
        duplicateWindowMs: 60_000,
        maxAckPending: 500,
        workerTtlMs: 20_000,
        maxAttempts: 5,
        jsDomain: "hub",
      },
      worker: { concurrency: 4, heartbeatIntervalMs: 2000, shutdownGraceMs: 0, queues: ["images", "email"] },
      port: 8080,
      api: { tokens: [expect.objectContaining({ label: "token 1", scopes: new Set(["read"]) })], rateLimit: expect.objectContaining({ limit: 20 }) },
    });
  });

  test.each([
    [{ EDGEQ_REPLICAS: "0" }, "EDGEQ_REPLICAS: must be at least 1"],
    [{ EDGEQ_API_TOKENS: "short:read" }, "EDGEQ_API_TOKENS: entry 1"],
    [{ EDGEQ_RATE_LIMIT: "fast" }, "EDGEQ_RATE_LIMIT:"],
    [{ EDGEQ_REPLICAS: "7" }, "EDGEQ_REPLICAS: must be at most 5"],
    [{ EDGEQ_ACK_WAIT_MS: "30s" }, "EDGEQ_ACK_WAIT_MS: must be a number"],
    [{ EDGEQ_RETENTION_MS: "1.5" }, "EDGEQ_RETENTION_MS: must be a whole number"],
    [{ EDGEQ_HEARTBEAT_MS: "10" }, "EDGEQ_HEARTBEAT_MS: must be at least 100"],
    [{ NATS_URL: "http://nats:4222" }, "NATS_URL: must be host:port or nats://"],
    [{ NATS_USER: "edgeq" }, "NATS_PASSWORD: must be set with NATS_USER"],
    [{ NATS_TLS_CERT: "/c.pem" }, "NATS_TLS_KEY: must be set with NATS_TLS_CERT"],
    [{ NATS_TOKEN: "t", NATS_CREDS: "/u.creds" }, "NATS_CREDS: set one way to authenticate, not NATS_TOKEN and NATS_CREDS"],
    [{ NATS_NKEY_SEED: "not-a-seed" }, "NATS_NKEY_SEED: must be a user NKey seed"],
    [{ NATS_JS_DOMAIN: "a.b" }, "NATS_JS_DOMAIN: must be 1-64 of"],
    [{ EDGEQ_QUEUES: "a,b.c" }, "EDGEQ_QUEUES"],
    [{ NATS_URL: "ws://nats:8080", NATS_TLS_CA: "/ca.pem" }, "NATS_TLS_CA: applies to TCP connections only, not to ws://nats:8080"],
    [{ EDGEQ_SHUTDOWN_GRACE_MS: "90000000" }, "EDGEQ_SHUTDOWN_GRACE_MS: must be at most 86400000"],
  ])("%j is refused: %s", (vars, message) => {
    expect(() => readSettings(envOf(vars))).toThrow(message);
  });

  test("a flag overrides its variable and is named with it", () => {
    const labels = { EDGEQ_CONCURRENCY: "--concurrency / EDGEQ_CONCURRENCY" };
    expect(readSettings(envOf({ EDGEQ_CONCURRENCY: "2" }), { EDGEQ_CONCURRENCY: "8" }, labels).worker.concurrency).toBe(8);
    expect(() => readSettings(envOf({}), { EDGEQ_CONCURRENCY: "0" }, labels)).toThrow("--concurrency / EDGEQ_CONCURRENCY: must be at least 1");
  });
});

describe("against a nats-server that requires credentials and TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgeq-auth-"));
  const user = createUser();
  const procs: EdgeqProcess[] = [];
  let server: NatsServer | undefined;
  const port = () => server!.port;

  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startServer() {
    // A CA and a server certificate for 127.0.0.1.
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=edgeq test CA", "-keyout", "ca.key", "-out", "ca.pem");
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr");
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.pem");
    writeFileSync(join(dir, "seed.txt"), new TextDecoder().decode(user.getSeed()) + "\n");
    writeFileSync(join(dir, "server.conf"), `
      tls { cert_file: "${join(dir, "server.pem")}", key_file: "${join(dir, "server.key")}" }
      authorization { users: [ { user: edgeq, password: s3cret }, { nkey: ${user.getPublicKey()} } ] }
    `);
    server = await NatsServer.start({ config: join(dir, "server.conf") });
  }

  beforeAll(startServer);

  const worker = (env: Record<string, string>) => {
    const proc = runEdgeq("node", ["worker", "workers/demo.ts"], { NATS_URL: `tls://127.0.0.1:${port()}`, NATS_TLS_CA: join(dir, "ca.pem"), ...env });
    procs.push(proc);
    return proc;
  };

  test("user and password, then an NKey seed file, over TLS; settings reach what edgeq creates", async () => {
    await worker({ NATS_USER: "edgeq", NATS_PASSWORD: "s3cret", EDGEQ_ACK_WAIT_MS: "7000", EDGEQ_RETENTION_MS: "3600000" }).workerId();
    await worker({ NATS_NKEY_SEED_FILE: join(dir, "seed.txt") }).workerId();

    const nc = await connect({ servers: `127.0.0.1:${port()}`, user: "edgeq", pass: "s3cret", tls: { caFile: join(dir, "ca.pem") } });
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.consumers.info(WORK_STREAM, consumerName("default", "normal"))).config.ack_wait).toBe(7000 * 1e6);
      expect((await jsm.streams.info(`KV_${STATS_BUCKET}`)).config.max_age).toBe(3_600_000 * 1e6);
    } finally {
      await nc.close();
    }
  });

  test("a token: the right one connects, a wrong one stops the worker with a clear message", async () => {
    const conf = join(dir, "token.conf");
    writeFileSync(conf, 'authorization { token: "t0ken-for-edgeq" }\n');
    const tokenServer = await NatsServer.start({ config: conf });
    try {
      const run = (token: string) => {
        const proc = runEdgeq("node", ["worker", "workers/demo.ts"], { NATS_URL: tokenServer.url, NATS_TOKEN: token });
        procs.push(proc);
        return proc;
      };
      await run("t0ken-for-edgeq").workerId();
      const wrong = run("not-the-token");
      expect(await wrong.exited).toBe(1);
      expect(wrong.output).toMatch(/cannot reach NATS at .*[Aa]uthorization/);
    } finally {
      await Promise.all(procs.splice(0).map((p) => p.stop()));
      await tokenServer.stop();
    }
  });

  test("a wrong password, a missing file and a bad value stop the worker at start-up with a clear message", async () => {
    const wrong = worker({ NATS_USER: "edgeq", NATS_PASSWORD: "nope" });
    const missing = worker({ NATS_CREDS: join(dir, "absent.creds") });
    const bad = worker({ EDGEQ_REPLICAS: "three" });
    expect(await Promise.all([wrong.exited, missing.exited, bad.exited])).toEqual([1, 1, 1]);
    expect(wrong.output).toMatch(/cannot reach NATS at tls:\/\/127.0.0.1:\d+ \(.*[Aa]uthorization/);
    expect(missing.output).toMatch(/NATS_CREDS: cannot read .*absent.creds/);
    expect(bad.output).toMatch(/EDGEQ_REPLICAS: must be a number/);
    for (const p of [wrong, missing, bad]) expect(p.output).not.toMatch(/\n\s+at /);
  });
});
