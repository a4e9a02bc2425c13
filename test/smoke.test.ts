import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Edgeq } from "../src/client.ts";
import { NatsServer } from "./helpers/nats-server.ts";

let server: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  server = await NatsServer.start();
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

test("smoke", async () => {
  const edgeq = await Edgeq.open(nc);
  const w = await edgeq.worker({ echo: (d) => ({ echoed: d }) }, { concurrency: 4 });
  const q = edgeq.queue();
  const t0 = Date.now();
  const { id } = await q.submit("echo", { a: 1 });
  const rec = await edgeq.tasks.waitFor(id, 5000);
  console.log(Date.now() - t0, rec);
  const many = await q.submitMany(Array.from({ length: 200 }, (_, i) => ({ type: "echo", data: i })));
  for (const s of many) expect((await edgeq.tasks.waitFor(s.id, 10000))?.status).toBe("completed");
  console.log((await edgeq.tasks.list({ limit: 3 })).map((r) => [r.id, r.data, r.created_at]));
  console.log(await edgeq.health(), await edgeq.workers());
  await w.stop();
  console.log(await edgeq.health());
});
