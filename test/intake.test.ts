/**
 * The intake's pull state machine, driven step by step: the pulls are answered by hand in the order
 * a real server could answer them, so interleavings that a live run hits once in hundreds are
 * replayed every time.
 */
import type { Msg } from "@nats-io/nats-core";
import { expect, test } from "vitest";
import type { Delivery } from "../src/nats/delivery.ts";
import type { PullOptions, PullResult, Puller } from "../src/nats/puller.ts";
import type { Priority } from "../src/wire/names.ts";
import { Intake, type LaneOf } from "../src/worker/intake.ts";

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

/** An intake over a scripted puller, for a worker of `concurrency` slots that starts what it is given; what it starts and hands back is kept. */
function scriptedIntake(lanes: LaneOf[], concurrency: number, weights: Record<Priority, number> | null) {
  const puller = new ScriptedPuller();
  const started: Delivery[] = [];
  const handedBack: Delivery[] = [];
  const intake: Intake = new Intake(puller as unknown as Puller, lanes, {
    capacity: () => concurrency,
    inHand: () => started.length,
    busy: () => started.length,
    waiting: () => 0,
    concurrency,
    idlePullMs: 10_000,
    onHeld: () => {},
    onArrival: () => {
      for (let d = started.length < concurrency && intake.take(); d; d = started.length < concurrency && intake.take()) started.push(d);
    },
    respond: () => {},
    handBack: (d) => void handedBack.push(d),
  }, weights);
  return { puller, intake, started, handedBack };
}

test("a lower lane's delivery that arrives while a higher lane is being asked starts once that lane is found empty", async () => {
  const { puller, intake, started } = scriptedIntake([{ consumer: "high", queue: "q", priority: "high" }, { consumer: "normal", queue: "q", priority: "normal" }], 4, null);

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

test("what a paused queue's lane holds does not keep another queue's delivery from starting", async () => {
  const lanes: LaneOf[] = [{ consumer: "a", queue: "qa", priority: "normal" }, { consumer: "b", queue: "qb", priority: "normal" }];
  const { puller, intake, started, handedBack } = scriptedIntake(lanes, 1, { high: 6, normal: 3, low: 1 });

  intake.fill();
  puller.take("a", "no-wait").end({ received: 0, answered: true });
  await settled();
  puller.take("b", "no-wait").end({ received: 0, answered: true });
  await settled();
  intake.setPaused("qa", true);
  // The paused lane's open pull still delivers: held for the resume, not started.
  const aParked = puller.take("a", "waiting");
  aParked.deliver(message("a"));
  aParked.end({ received: 1, answered: true });
  await settled();
  expect(started).toEqual([]);
  const bParked = puller.take("b", "waiting");
  bParked.deliver(message("b"));
  expect(started.map((d) => d.msg.subject)).toEqual(["edgeq.t.b"]);
  expect(handedBack).toEqual([]);
});
