/**
 * The dead-letter stream: tasks that used up their attempts and poison messages end there with
 * their reason and history, and the library and the API list, inspect, requeue and purge them.
 */
import { headers } from "@nats-io/nats-core";
import { connect as connectTcp } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { connect } from "@nats-io/transport-node";
import { createApi } from "../src/api/app.ts";
import { Edgeq } from "../src/client/client.ts";
import { ConflictError } from "../src/wire/errors.ts";
import { consumerName, DEAD_STREAM, taskSubject, WORK_STREAM } from "../src/wire/names.ts";
import { ensureTopology } from "../src/nats/topology.ts";
import type { Handlers, Worker } from "../src/worker/mod.ts";
import { eventually } from "./helpers/processes.ts";
import { QUEUE_LENGTH_REFRESH_MS } from "../src/client/queue-length.ts";
import { publishRequeued, putRecord, useNats } from "./helpers/setup.ts";

// dl-race's bound makes this handle read the queue's length before publishing a requeue, so that a
// second handle without it publishes first.
const env = useNats({ backoff: "fixed:10", queues: { "dl-full": { maxLength: 1 }, "dl-race": { maxLength: 1000 } } });
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(0)));
  await env.edgeq.deadLetters.purgeAll();
});

async function startWorker(queue: string, handlers: Handlers) {
  const worker = await env.edgeq.worker(handlers, { queues: [queue], heartbeatIntervalMs: 200 });
  workers.push(worker);
  return worker;
}

/** Runs `fn` with the dead-letter stream gone, so that burials fail; then makes it again. */
async function withoutDeadStream(fn: () => Promise<void>): Promise<void> {
  await env.edgeq.jsm.streams.delete(DEAD_STREAM);
  try {
    await fn();
  } finally {
    await ensureTopology(env.edgeq.js, env.edgeq.jsm, env.edgeq.config);
  }
}

const api = () => createApi(env.edgeq, { onError: () => {} });
async function call(method: string, path: string, body?: unknown) {
  const res = await api().request(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe("tasks that use up their attempts", () => {
  test("are dead-lettered with reason, data and history, and shown by the library and the API", async () => {
    const worker = await startWorker("dl-show", { flaky: () => { throw new Error("still broken"); } });
    const { id } = await env.edgeq.queue("dl-show").submit("flaky", { order: 7 }, { maxAttempts: 2, priority: "high" });
    expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "dead", attempts: 2 });

    const letter = await env.edgeq.deadLetters.get(id);
    expect(letter).toMatchObject({
      id,
      type: "flaky",
      queue: "dl-show",
      priority: "high",
      subject: taskSubject("dl-show", "high", "flaky", id),
      data: { order: 7 },
      reason: "Error: still broken",
      attempts: 2,
      headers: { "Edgeq-Max-Attempts": "2", "Edgeq-Backoff": "fixed:10" },
    });
    expect(letter.history.map((a) => [a.attempt, a.worker_id, a.error])).toEqual([
      [1, worker.id, "Error: still broken"],
      [2, worker.id, "Error: still broken"],
    ]);
    const listed = await call("GET", "/dead-letters?queue=dl-show");
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ count: 1, dead_letters: [{ id, reason: "Error: still broken" }] });
    expect((await call("GET", "/dead-letters?queue=other")).body.count).toBe(0);
    expect((await call("GET", `/dead-letters/${id}`)).body).toMatchObject({ id, data: { order: 7 } });
    expect((await call("GET", "/health")).body.dead_tasks).toBe(1);
  });

  test("a failure whose burial does not go through keeps its error, and is buried with it once the dead-letter stream is back", async () => {
    const reported: unknown[] = [];
    const worker = await env.edgeq.worker({ flaky: () => { throw new Error("broken for good"); } }, {
      queues: ["dl-unburied"],
      onError: (err) => reported.push(err),
    });
    workers.push(worker);
    let id: string;
    await withoutDeadStream(async () => {
      ({ id } = await env.edgeq.queue("dl-unburied").submit("flaky", null, { maxAttempts: 1 }));
      const waiting = await eventually(async () => {
        const record = await env.edgeq.tasks.get(id);
        return record?.status === "pending" && record.attempts === 1 ? record : null;
      }, 5000, "the failed attempt to be recorded");
      expect(waiting.error).toBe("Error: broken for good");
      expect(String((reported[0] as Error).cause)).toMatch(/no responders: 'edgeq_dead\./);
    });
    expect(await env.edgeq.tasks.waitFor(id!, 5000)).toMatchObject({ status: "dead", attempts: 1, error: "Error: broken for good" });
    const letter = await env.edgeq.deadLetters.get(id!);
    expect(letter.reason).toBe("Error: broken for good");
    expect(letter.history.map((a) => [a.attempt, a.error])).toEqual([[1, "Error: broken for good"]]);
  });

  test("an unreadable message whose burial does not go through writes no record, and is buried once the stream is back", async () => {
    const reported: unknown[] = [];
    workers.push(await env.edgeq.worker({ echo: (data) => data }, { queues: ["dl-unread"], onError: (err) => reported.push(err) }));
    await withoutDeadStream(async () => {
      const poison = headers();
      poison.set("Nats-Msg-Id", "unread-1");
      env.nc.publish("edgeq.dl-unread.normal.echo", new Uint8Array([0xff, 0xfe]), { headers: poison });
      await eventually(async () => reported.length > 0, 5000, "the failed burial to be reported");
      // No record stored (the task reads as pending from its message meanwhile).
      expect((await env.edgeq.tasks.read("unread-1")).record).toBeNull();
    });
    expect(await env.edgeq.tasks.waitFor("unread-1", 5000)).toMatchObject({ status: "dead", attempts: 0 });
    expect((await env.edgeq.deadLetters.get("unread-1")).reason).toMatch(/^PoisonMessageError/);
  });

  test("requeued with new attempts, a task runs again under its id and keeps its history; the letter is gone", async () => {
    let broken = true;
    await startWorker("dl-requeue", { flaky: () => { if (broken) throw new Error("down"); return "fixed"; } });
    const { id } = await env.edgeq.queue("dl-requeue").submit("flaky", "payload", { maxAttempts: 1 });
    expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "dead" });

    broken = false;
    const requeued = await call("POST", `/dead-letters/${id}/requeue`, { max_attempts: 3 });
    expect(requeued).toMatchObject({ status: 200, body: { success: true, task_id: id, status: "pending" } });
    const done = await eventually(async () => {
      const record = await env.edgeq.tasks.get(id);
      return record?.status === "completed" ? record : null;
    }, 5000, "the requeued task to complete");
    expect(done).toMatchObject({ attempts: 1, max_attempts: 3, result: "fixed", data: "payload" });
    expect(done.history.map((a) => a.error)).toEqual(["Error: down", null]);
    expect((await call("GET", `/dead-letters/${id}`)).status).toBe(404);
  });

  test("requeue all and purge, per queue or everything", async () => {
    await startWorker("dl-bulk", { nope: () => { throw new Error("nope"); } });
    const queue = env.edgeq.queue("dl-bulk");
    const tasks = await queue.submitMany(Array.from({ length: 4 }, () => ({ type: "nope", maxAttempts: 1 })));
    await Promise.all(tasks.map((t) => env.edgeq.tasks.waitFor(t.id, 5000)));
    expect(await env.edgeq.deadLetters.count()).toBe(4);

    expect(await call("DELETE", `/dead-letters/${tasks[0].id}`)).toMatchObject({ status: 200, body: { success: true } });
    expect((await call("DELETE", `/dead-letters/${tasks[0].id}`)).status).toBe(404);
    expect(await call("DELETE", "/dead-letters?queue=elsewhere")).toMatchObject({ body: { purged: 0 } });

    // Requeued, they fail again (one attempt each) and come back as dead letters.
    expect(await call("POST", "/dead-letters/requeue", { queue: "dl-bulk" })).toMatchObject({ status: 200, body: { requeued: 3 } });
    await eventually(async () => (await env.edgeq.deadLetters.count()) === 3 && (await env.edgeq.deadLetters.list({ limit: 10 })).every((l) => l.history.length === 2), 5000, "the requeued tasks to die again");
    expect(await call("DELETE", "/dead-letters?queue=dl-bulk")).toMatchObject({ body: { purged: 3 } });
    expect(await env.edgeq.deadLetters.count()).toBe(0);
  });

  test("two requeues of every letter at once run each task once more, and leave every record settled", async () => {
    await startWorker("dl-twice", { nope: () => { throw new Error("nope"); } });
    const tasks = await env.edgeq.queue("dl-twice").submitMany(Array.from({ length: 3 }, () => ({ type: "nope", maxAttempts: 1 })));
    await Promise.all(tasks.map((t) => env.edgeq.tasks.waitFor(t.id, 5000)));

    const before = (await env.edgeq.jsm.streams.info(WORK_STREAM)).state.last_seq;
    const counts = await Promise.all([1, 2].map(() => env.edgeq.deadLetters.requeueAll({ queue: "dl-twice" })));
    expect(counts[0] + counts[1]).toBe(3);
    // One work message each, however the two calls met.
    expect((await env.edgeq.jsm.streams.info(WORK_STREAM)).state.last_seq - before).toBe(3);
    await eventually(async () => {
      const records = await Promise.all(tasks.map((t) => env.edgeq.tasks.get(t.id)));
      return records.every((r) => r?.status === "dead" && r.history.length === 2);
    }, 5000, "each task to die once more, and only once");
    expect((await env.edgeq.deadLetters.list({ queue: "dl-twice", limit: 10 })).length).toBe(3);
  });

  test("two requeues of one letter at once, from two connections, store it once and leave its record pending with its history", async () => {
    const worker = await startWorker("dl-race", { nope: () => { throw new Error("nope"); } });
    const tasks = await env.edgeq.queue("dl-race").submitMany(Array.from({ length: 8 }, () => ({ type: "nope", maxAttempts: 1 })));
    await Promise.all(tasks.map((t) => env.edgeq.tasks.waitFor(t.id, 5000)));
    await worker.stop(0); // so that the requeued messages wait, and their records must say so

    const nc = await connect({ servers: env.server.url });
    try {
      const other = await Edgeq.open(nc, { backoff: "fixed:10" });
      for (const { id } of tasks) {
        // Past the cached queue length, so that this handle reads it before publishing: where its
        // requeue wins the record write, the other's, refused, is first to publish.
        // (Likely, not certain: it depends on which write the server takes first.)
        await new Promise((r) => setTimeout(r, QUEUE_LENGTH_REFRESH_MS + 10));
        // Each succeeds, or is told that another requeue of the letter is under way.
        const results = await Promise.allSettled([env.edgeq, other].map((e) => e.deadLetters.requeue(id)));
        expect(results.some((r) => r.status === "fulfilled")).toBe(true);
        for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
      }
    } finally {
      await nc.close();
    }
    expect((await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName("dl-race", "normal"))).num_pending).toBe(tasks.length);
    const records = await Promise.all(tasks.map((t) => env.edgeq.tasks.get(t.id)));
    expect(records.filter((r) => r?.status !== "pending" || r.history.length !== 1)).toEqual([]);
    expect(await env.edgeq.deadLetters.list({ queue: "dl-race", limit: 100 })).toEqual([]);
  });

  test("a requeue while the task's last message is unsettled (its worker died before +TERM) is refused with 409", async () => {
    // As a worker leaves it when it dies after burying the task and recording `dead`, before its +TERM.
    const { id } = await env.edgeq.queue("dl-unsettled").submit("nope", "data", { maxAttempts: 1 });
    const subject = taskSubject("dl-unsettled", "normal", "nope", id);
    const seq = (await env.edgeq.jsm.streams.getMessage(WORK_STREAM, { last_by_subj: subject }))!.seq;
    const record = (await env.edgeq.tasks.get(id))!;
    await putRecord(env.edgeq, { ...record, status: "dead", attempts: 1, seq, error: "Error: nope" });
    await env.edgeq.deadLetters.add({ id, subject, headers: undefined, body: new TextEncoder().encode('"data"'), reason: "Error: nope", attempts: 1, history: [], workSeq: seq });

    expect(await call("POST", `/dead-letters/${id}/requeue`)).toMatchObject({ status: 409, body: { code: "conflict_error" } });
    expect(await env.edgeq.deadLetters.requeueAll({ queue: "dl-unsettled" })).toBe(0);
    expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "dead" });
    // The delivery of the worker that died: taken, and never settled (handed back here at once).
    await env.edgeq.ensureQueue("dl-unsettled");
    const delivered = await env.edgeq.js.consumers.get(WORK_STREAM, consumerName("dl-unsettled", "normal")).then((c) => c.next());
    expect(delivered?.seq).toBe(seq);
    delivered!.nak();
    // Redelivered, the message finds its record `dead` and is settled without running; then the requeue goes through.
    let runs = 0;
    await startWorker("dl-unsettled", { nope: () => void runs++ });
    await eventually(async () => (await call("POST", `/dead-letters/${id}/requeue`)).status === 200, 5000, "the message to be settled");
    expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "completed", attempts: 1 });
    expect(runs).toBe(1);
  });

  test("a requeue that finds its message stored already (an earlier one's answer was lost) removes the letter", async () => {
    const worker = await startWorker("dl-lost", { nope: () => { throw new Error("nope"); } });
    const { id } = await env.edgeq.queue("dl-lost").submit("nope", "data", { maxAttempts: 1 });
    await env.edgeq.tasks.waitFor(id, 5000);
    await worker.stop(0);
    const letter = await env.edgeq.deadLetters.get(id);
    // The earlier requeue's message, stored though its publish went unanswered.
    await publishRequeued(env.edgeq, letter.subject, id, letter.seq, "data");

    await env.edgeq.deadLetters.requeue(id);
    await expect(env.edgeq.deadLetters.get(id)).rejects.toThrow(/no dead letter/);
    // It met that message, and stored no second one.
    expect((await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName("dl-lost", "normal"))).num_pending).toBe(1);
    // That message still waits: its record says so, with the history the letter kept.
    expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "pending", history: [expect.objectContaining({ error: "Error: nope" })] });
  });

  test("a requeue into a full queue is refused with 429 and the letter stays", async () => {
    const worker = await startWorker("dl-full", { nope: () => { throw new Error("nope"); } });
    const { id } = await env.edgeq.queue("dl-full").submit("nope", null, { maxAttempts: 1 });
    expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "dead" });
    await worker.stop(0);
    await env.edgeq.queue("dl-full").submit("nope", null, { waitMs: 2000 }); // fills the queue: no worker takes it

    expect(await call("POST", `/dead-letters/${id}/requeue`)).toMatchObject({ status: 429, body: { code: "queue_full_error" } });
    expect(await call("POST", "/dead-letters/requeue", { queue: "dl-full" })).toMatchObject({ status: 429 });
    expect((await env.edgeq.deadLetters.get(id)).id).toBe(id);
    expect(await env.edgeq.tasks.get(id)).toMatchObject({ status: "dead" });
  });

  test("bad dead-letter requests are 4xx with a JSON error", async () => {
    expect(await call("GET", "/dead-letters/no-such-task")).toMatchObject({ status: 404, body: { code: "not_found_error" } });
    expect((await call("GET", "/dead-letters?limit=0")).status).toBe(400);
    expect((await call("GET", "/dead-letters/..%2Fetc")).status).toBe(400);
    expect((await call("POST", "/dead-letters/requeue", { max_attempts: "many" })).body.error).toMatch(/max_attempts: must be a number/);
    expect((await call("POST", "/dead-letters/x/requeue", [])).status).toBe(400);
    expect((await call("DELETE", "/dead-letters?queue=a.b")).status).toBe(400);
    // The library checks ids too: an id becomes a subject, where ">" would match another task's letter.
    await expect(env.edgeq.deadLetters.purge(">")).rejects.toThrow(/invalid task id/);
    // And the attempts: a bad one would requeue a message no worker can read.
    await expect(env.edgeq.deadLetters.requeueAll({ maxAttempts: 0 })).rejects.toThrow(/invalid maxAttempts/);
  });

  test("a dead letter sent twice for the same delivery (a worker died after sending it) is stored once", async () => {
    const burial = { id: "twice", subject: "edgeq.default.normal.x", headers: undefined, body: new Uint8Array(), reason: "r", attempts: 1, history: [], workSeq: 42 };
    await env.edgeq.deadLetters.add(burial);
    await env.edgeq.deadLetters.add(burial);
    expect(await env.edgeq.deadLetters.count()).toBe(1);
  });
});

describe("large dead letters", () => {
  test("too large with its history, a letter keeps the body and drops the history; too large with its headers, it drops the body", async () => {
    await startWorker("dl-big", { big: () => { throw new Error("x".repeat(1900)); } });
    const data = "d".repeat(env.edgeq.maxDataBytes - 10);
    const { id } = await env.edgeq.queue("dl-big").submit("big", data, { maxAttempts: 1 });
    expect(await env.edgeq.tasks.waitFor(id, 5000)).toMatchObject({ status: "dead" });
    const letter = await env.edgeq.deadLetters.get(id);
    expect((letter.data as string).length).toBe(data.length);
    expect(letter.history).toEqual([]);

    // A raw message that fills the max payload by itself: its letter cannot keep the body.
    const h = headers();
    h.set("Nats-Msg-Id", "huge-raw");
    const body = new TextEncoder().encode(JSON.stringify("r".repeat(env.edgeq.maxPayload - 200)));
    env.nc.publish("edgeq.dl-big.normal.big", body, { headers: h });
    expect(await env.edgeq.tasks.waitFor("huge-raw", 5000)).toMatchObject({ status: "dead" });
    expect(await env.edgeq.deadLetters.get("huge-raw")).toMatchObject({ data: null, body_omitted_bytes: body.length });
    const refused = await call("POST", "/dead-letters/huge-raw/requeue");
    expect(refused).toMatchObject({ status: 400, body: { error: expect.stringMatching(/could not keep its \d+-byte body/) } });
    // Requeueing all requeues the others and leaves it.
    expect(await call("POST", "/dead-letters/requeue", { queue: "dl-big" })).toMatchObject({ status: 200, body: { requeued: 1 } });
    expect((await env.edgeq.deadLetters.list({ queue: "dl-big", limit: 10 })).map((l) => l.id)).toContain("huge-raw");
  });
});

describe("poison messages", () => {
  test("a body that is not UTF-8 or a bad edgeq header is dead-lettered with the reason; the worker carries on", async () => {
    await startWorker("poison", { echo: (data) => data });
    const garbage = new Uint8Array([0xff, 0xfe, 0x00, 0xc3, 0x28]);
    const badBody = headers();
    badBody.set("Nats-Msg-Id", "garbage-body");
    env.nc.publish("edgeq.poison.normal.echo", garbage, { headers: badBody });
    const badHeader = headers();
    badHeader.set("Nats-Msg-Id", "bad-header");
    badHeader.set("Edgeq-Max-Attempts", "lots");
    env.nc.publish("edgeq.poison.normal.echo", new TextEncoder().encode("{}"), { headers: badHeader });
    const fine = await env.edgeq.queue("poison").submit("echo", "after the poison");

    expect(await env.edgeq.tasks.waitFor(fine.id, 5000)).toMatchObject({ status: "completed", result: "after the poison" });
    expect(await env.edgeq.tasks.waitFor("garbage-body", 5000)).toMatchObject({ status: "dead", attempts: 0 });
    const body = await env.edgeq.deadLetters.get("garbage-body");
    expect(body).toMatchObject({ reason: expect.stringMatching(/^PoisonMessageError: the body \(5 bytes\) is neither JSON nor UTF-8/), data: null });
    expect(body.raw_base64).toBe(btoa(String.fromCharCode(...garbage)));
    const header = await env.edgeq.deadLetters.get("bad-header");
    expect(header.reason).toMatch(/PoisonMessageError: header Edgeq-Max-Attempts is "lots": must be a number/);
    expect(header.headers).toEqual({ "Edgeq-Max-Attempts": "lots" });

    const info = await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName("poison", "normal"));
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  test("a header name other clients let through but nats.js cannot read is dead-lettered, not redelivered forever", async () => {
    await startWorker("poison-header", { echo: (data) => data });
    // Published over a raw connection: nats.js itself would refuse the name.
    const sock = connectTcp(env.server.port, "127.0.0.1");
    let received = "";
    sock.on("data", (chunk) => (received += chunk));
    const head = "NATS/1.0\r\nTrace Id: 1\r\n\r\n";
    const body = "{}";
    sock.write(`CONNECT {"verbose":false,"headers":true}\r\nHPUB edgeq.poison-header.normal.echo ${head.length} ${head.length + body.length}\r\n${head}${body}\r\nPING\r\n`);
    await eventually(async () => received.includes("PONG"), 5000, "the server's PONG");
    sock.destroy();
    const [letter] = await eventually(async () => {
      const letters = await env.edgeq.deadLetters.list({ queue: "poison-header", limit: 5 });
      return letters.length ? letters : null;
    }, 5000, "the dead letter");
    expect(letter).toMatchObject({ id: expect.stringMatching(/^seq-\d+$/), reason: expect.stringMatching(/^PoisonMessageError: its headers cannot be read/) });
    const info = await env.edgeq.jsm.consumers.info(WORK_STREAM, consumerName("poison-header", "normal"));
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });
});
