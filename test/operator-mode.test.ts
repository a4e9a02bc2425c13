/**
 * Operator mode: a nats-server trusting an operator whose account and users are JWTs made here
 * (@nats-io/jwt, @nats-io/nkeys), resolved from memory; each edgeq part connects with its own
 * `.creds` file through the settings edgeq's commands read (NATS_CREDS, NATS_INBOX_PREFIX), with the
 * permissions of deploy/nats-server.conf written into its user JWT. A task goes submit → work →
 * record, and what a user must not do is refused here too.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { nodeRuntime } from "../src/adapter/node/runtime.ts";
import { createApi } from "../src/api/app.ts";
import { Edgeq } from "../src/client/client.ts";
import { natsConnectOptions } from "../src/nats/nats-options.ts";
import { readSettings } from "../src/client/settings.ts";
import type { Worker } from "../src/worker/mod.ts";
import { handlers } from "../workers/demo.ts";
import { processOverHttp } from "./helpers/api-flow.ts";
import { confPermissions } from "./helpers/nats-permissions.ts";
import { NatsServer } from "./helpers/nats-server.ts";
import { eventually } from "./helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "edgeq-operator-"));
const USERS = { admin: "ADMIN", api: "API", worker: "WORKER" } as const;
type UserName = keyof typeof USERS;
let server: NatsServer;
const creds = {} as Record<UserName, string>;
const connections: NatsConnection[] = [];
const refused: Record<string, string[]> = { api: [], worker: [] };
let worker: Worker | undefined;

beforeAll(async () => {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const signed = { signer: operator };
  const operatorJwt = await encodeOperator("edgeq-test", operator, { system_account: system.getPublicKey() });
  const systemJwt = await encodeAccount("SYS", system, {}, signed);
  // Limits left out are 0 (no connections at all); JetStream is enabled by giving the account storage.
  const unlimited = { conn: -1, leaf: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true };
  const accountJwt = await encodeAccount("EDGEQ", account, { limits: { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } }, signed);
  for (const [user, block] of Object.entries(USERS) as [UserName, string][]) {
    const key = createUser();
    const { publish, subscribe } = confPermissions(block);
    const jwt = await encodeUser(user, key, account, { pub: { allow: publish }, sub: { allow: subscribe } });
    creds[user] = join(dir, `${user}.creds`);
    writeFileSync(creds[user], fmtCreds(jwt, key));
  }
  const config = join(dir, "server.conf");
  writeFileSync(
    config,
    [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      "resolver: MEMORY",
      "resolver_preload: {",
      `  ${system.getPublicKey()}: ${systemJwt}`,
      `  ${account.getPublicKey()}: ${accountJwt}`,
      "}",
    ].join("\n"),
  );
  server = await NatsServer.start({ config });
});

afterAll(async () => {
  await worker?.stop();
  await Promise.all(connections.map((nc) => nc.close()));
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Connects as edgeq's commands do: settings from the environment, then the connect options they make. */
async function login(user: UserName): Promise<NatsConnection> {
  const env: Record<string, string> = { NATS_URL: server.url, NATS_CREDS: creds[user], NATS_INBOX_PREFIX: `_INBOX_${user}` };
  const settings = readSettings((name) => env[name]);
  const nc = await nodeRuntime.connect(await natsConnectOptions(settings.nats, nodeRuntime.readTextFile));
  connections.push(nc);
  (async () => {
    for await (const s of nc.status()) if (s.type === "error") refused[user]?.push(String(s.error));
  })();
  return nc;
}

test("with .creds files: the admin creates the topology, the API submits, the worker works, the record says completed", async () => {
  await Edgeq.open(await login("admin"));
  const apiNc = await login("api");
  const api = createApi(await Edgeq.open(apiNc));
  const workerEdgeq = await Edgeq.open(await login("worker"));
  const errors: unknown[] = [];
  worker = await workerEdgeq.worker(handlers, { onError: (err) => errors.push(err) });

  const { task } = await processOverHttp(api, "operator mode", 15_000);
  expect(task).toMatchObject({ result: { processed: "OPERATOR MODE" }, worker_id: worker.id });
  expect(errors).toEqual([]);
  expect(refused).toEqual({ api: [], worker: [] });
});

test("the user JWTs' permissions hold: the worker cannot pause a queue or file a delayed task, the API cannot read the worker's replies", async () => {
  const [apiNc, workerNc] = connections.slice(1);
  const workerJs = jetstream(workerNc, { timeout: 2000 });
  await expect(workerJs.publish("$KV.edgeq_queues.default", '{"paused": true}')).rejects.toThrow(/permission/i);
  await expect(workerJs.publish("edgeq_delayed.1", '"injected"')).rejects.toThrow(/permission/i);
  apiNc.subscribe("_INBOX_worker.>");
  await eventually(async () => refused.api.some((e) => /permission/i.test(e) && e.includes("_INBOX_worker.>")), 5000, "the refused subscription");
});

test("a .creds file that cannot be read is named in the error", async () => {
  const settings = readSettings((name) => ({ NATS_URL: server.url, NATS_CREDS: join(dir, "missing.creds") })[name as "NATS_URL"]);
  await expect(natsConnectOptions(settings.nats, nodeRuntime.readTextFile)).rejects.toThrow(/NATS_CREDS: cannot read .*missing\.creds/);
});
