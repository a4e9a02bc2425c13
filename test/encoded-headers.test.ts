/**
 * Headers made once as text (src/wire/encoded-headers.ts) reach a subscriber as nats.js's own would:
 * nats.js must keep reading a message's headers through their encode() for this to pass.
 */
import { headers, type MsgHdrsImpl } from "@nats-io/nats-core";
import { expect, test } from "vitest";
import { EncodedHeaders, headerLines } from "../src/wire/encoded-headers.ts";
import { useNats } from "./helpers/setup.ts";

const env = useNats();

async function roundTrip(h: ReturnType<typeof headers> | EncodedHeaders) {
  const sub = env.nc.subscribe("encoded.test", { max: 1 });
  env.nc.publish("encoded.test", "body", { headers: h });
  for await (const msg of sub) return msg.headers;
}

test("a subscriber reads encoded headers back as nats.js's own", async () => {
  const lines = headerLines([["Nats-Msg-Id", "task-1"], ["Edgeq-Max-Attempts", "3"]]);
  const received = await roundTrip(new EncodedHeaders(lines));
  expect(received?.get("Nats-Msg-Id")).toBe("task-1");
  expect(received?.get("Edgeq-Max-Attempts")).toBe("3");
  const theirs = headers();
  theirs.set("Nats-Msg-Id", "task-1");
  theirs.set("Edgeq-Max-Attempts", "3");
  expect(new EncodedHeaders(lines).encode()).toEqual((theirs as MsgHdrsImpl).encode());
});

test("the other methods work on a copy, and a change made through them is what is sent", async () => {
  const h = new EncodedHeaders(headerLines([["Nats-Msg-Id", "task-2"]]));
  expect(h.get("Nats-Msg-Id")).toBe("task-2");
  expect(h.keys()).toEqual(["Nats-Msg-Id"]);
  h.set("Edgeq-Backoff", "fixed:10");
  expect((await roundTrip(h))?.get("Edgeq-Backoff")).toBe("fixed:10");
});

test("a line break or a colon in a name, or a line break in a value, is refused", () => {
  expect(() => headerLines([["Nats-Msg-Id", "a\r\nInjected: yes"]])).toThrow(/cannot be sent/);
  expect(() => headerLines([["Bad:Name", "x"]])).toThrow(/cannot be sent/);
  expect(() => headerLines([["Bad\nName", "x"]])).toThrow(/cannot be sent/);
});
