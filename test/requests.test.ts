/**
 * The hot path's requests (src/requests.ts): answers matched by hand on one inbox, one time-out for all.
 */
import { TimeoutError } from "@nats-io/nats-core";
import { expect, test } from "vitest";
import { Requests } from "../src/requests.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();

/** Blocks the event loop, as a CPU-bound handler does. */
function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // no await
  }
}

test("an answer that arrived while the event loop was blocked past the time-out is read, not timed out", async () => {
  const requests = new Requests(env.nc, "$JS.API", 300);
  const answered = requests.request("$JS.API.INFO", "");
  // Sent in the next turn; then the event loop blocks while the server answers.
  await new Promise((r) => setImmediate(r));
  block(600);
  expect((await answered).json()).toMatchObject({ type: "io.nats.jetstream.api.v1.account_info_response" });
});

test("a request nobody answers times out", async () => {
  const requests = new Requests(env.nc, "$JS.API", 300);
  env.nc.subscribe("edgeq-test.silent");
  await env.nc.flush();
  await expect(requests.request("edgeq-test.silent", "")).rejects.toBeInstanceOf(TimeoutError);
});
