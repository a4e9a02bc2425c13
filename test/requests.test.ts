/**
 * The hot path's requests (src/nats/requests.ts): answers matched by hand on one inbox, one time-out for all.
 */
import { type Msg, TimeoutError } from "@nats-io/nats-core";
import { expect, test } from "vitest";
import { Requests } from "../src/nats/requests.ts";
import { block } from "./helpers/block.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();

test("an answer that arrived while the event loop was blocked past the time-out is read, not timed out", async () => {
  const requests = new Requests(env.nc, "$JS.API", 300);
  const answered = requests.request("$JS.API.INFO", "");
  // Sent in the next turn; then the event loop blocks while the server answers.
  await new Promise((r) => setImmediate(r));
  block(600);
  expect((await answered).json()).toMatchObject({ type: "io.nats.jetstream.api.v1.account_info_response" });
});

test("a request made just before the event loop blocks past the time-out is not timed out by that block", async () => {
  const requests = new Requests(env.nc, "$JS.API", 300);
  // Made and blocked in one turn, as a worker's outcome write followed by another handler's CPU-bound
  // work; in an immediate, so that the sweeper's timer fires before the request is sent.
  let answered!: Promise<Msg>;
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      answered = requests.request("$JS.API.INFO", "");
      block(600);
      resolve();
    })
  );
  expect((await answered).json()).toMatchObject({ type: "io.nats.jetstream.api.v1.account_info_response" });
});

test("a request nobody answers times out", async () => {
  const requests = new Requests(env.nc, "$JS.API", 300);
  env.nc.subscribe("edgeq-test.silent");
  await env.nc.flush();
  await expect(requests.request("edgeq-test.silent", "")).rejects.toBeInstanceOf(TimeoutError);
});
