/**
 * The intake's pull state machine, driven step by step: the pulls are answered by hand in the order
 * a real server could answer them, so interleavings that a live run hits once in hundreds are
 * replayed every time.
 */
import type { Msg } from "@nats-io/nats-core";
import { expect, test } from "vitest";
import type { Delivery } from "../src/delivery.ts";
import type { PullOptions, PullResult, Puller } from "../src/puller.ts";
import { Intake } from "../src/worker/intake.ts";

interface OpenPull {
  consumer: string;
  opts: PullOptions;
  deliver: (msg: Msg) => void;
  end: (result: PullResult) => void;
}

/** A puller whose requests stay open until the test answers them. */
class ScriptedPuller {
  readonly open: OpenPull[] = [];
  pull(consumer: string, opts: PullOptions, deliver: (msg: Msg) => void): Promise<PullResult> {
    return new Promise((end) => this.open.push({ consumer, opts, deliver, end }));
  }
  abandonAll(): void {}
  /** The one open pull on `consumer`, taken off the list. */
  take(consumer: string, kind: "no-wait" | "waiting"): OpenPull {
    const i = this.open.findIndex((p) => p.consumer === consumer && Boolean(p.opts.noWait) === (kind === "no-wait"));
    expect(i, `an open ${kind} pull on ${consumer}`).toBeGreaterThanOrEqual(0);
    return this.open.splice(i, 1)[0];
  }
}

let seq = 0;
const message = (consumer: string) => ({ subject: `edgeq.t.${consumer}`, reply: `$JS.ACK.W.${consumer}.1.${++seq}.${seq}.0.0` }) as Msg;
const settled = () => new Promise((r) => setTimeout(r, 0));

test("a lower lane's delivery that arrives while a higher lane is being asked starts once that lane is found empty", async () => {
  const puller = new ScriptedPuller();
  const started: Delivery[] = [];
  const intake: Intake = new Intake(puller as unknown as Puller, [{ consumer: "high", queue: "q", priority: "high" }, { consumer: "normal", queue: "q", priority: "normal" }], {
    capacity: () => 4,
    inHand: () => started.length,
    busy: () => started.length,
    concurrency: 4,
    idlePullMs: 10_000,
    onArrival: () => {
      for (let d = intake.take(); d; d = intake.take()) started.push(d);
    },
    respond: () => {},
    handBack: () => {},
  }, null);

  // Both lanes empty: each is parked on a waiting pull.
  intake.fill();
  puller.take("high", "no-wait").end({ received: 0, answered: true });
  await settled();
  puller.take("normal", "no-wait").end({ received: 0, answered: true });
  await settled();
  const normalParked = puller.take("normal", "waiting");

  // A high task arrives and fills the parked pull; the lane is asked again with a no-wait pull.
  const highParked = puller.take("high", "waiting");
  highParked.deliver(message("high"));
  highParked.end({ received: 1, answered: true });
  await settled();
  expect(started).toHaveLength(1);
  const highAsked = puller.take("high", "no-wait");

  // While that pull is out, a normal task arrives: it waits for the high lane's answer.
  normalParked.deliver(message("normal"));
  expect(started).toHaveLength(1);

  // The high lane is empty: the normal task starts.
  highAsked.end({ received: 0, answered: true });
  await settled();
  expect(started.map((d) => d.msg.subject)).toEqual(["edgeq.t.high", "edgeq.t.normal"]);
});
