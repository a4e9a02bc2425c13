/**
 * Reading a stream from a given sequence, as listings and sweeps need: an ephemeral consumer
 * without acks, pulled in batches until the visitor has seen enough or the stream ends.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { Puller } from "./puller.ts";
import { Delivery } from "./delivery.ts";
import { UnavailableError } from "../wire/mod.ts";
import type { NatsConnection } from "@nats-io/nats-core";

/** Per pull: at most this many messages, and (at least) this many bytes. */
export const SCAN_BATCH = 256;
const SCAN_BYTES = 4 * 1024 * 1024;
/** Reads of one scan, the first and one resumed after an unanswered pull. */
const SCAN_ATTEMPTS = 2;

export class StreamScanner {
  readonly #puller: Puller;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    /** `$JS.API`, or `$JS.<domain>.API` across a leaf node. */
    apiPrefix: string,
    private readonly stream: string,
    /** The server's max payload: a batch has room for the largest message, so one cannot stall a scan. */
    private readonly maxPayload: number,
    /** Names what is read, in errors. */
    private readonly what: string,
  ) {
    this.#puller = new Puller(nc, apiPrefix, stream, console.error);
  }

  /**
   * Hands the stream's messages from `start` on to `visit` until it returns false or the stream ends.
   * A read JetStream leaves unanswered (seen on a loaded 2.9 server) is resumed after the last
   * message handed over, on a new consumer; a second one in a row is an UnavailableError.
   */
  async scan(start: number, visit: (delivery: Delivery) => boolean): Promise<void> {
    let next = start;
    for (let attempt = 1; ; attempt++) {
      const answered = await this.#scanFrom(next, (delivery) => {
        next = delivery.streamSeq + 1;
        return visit(delivery);
      });
      if (answered) return;
      if (attempt >= SCAN_ATTEMPTS) throw new UnavailableError(`JetStream did not answer while reading ${this.what}; retry later`);
    }
  }

  /** One consumer's read; false when a pull went unanswered before the visitor was done. */
  async #scanFrom(start: number, visit: (delivery: Delivery) => boolean): Promise<boolean> {
    const name = `edgeq_scan_${crypto.randomUUID().replaceAll("-", "")}`;
    await this.jsm.consumers.add(this.stream, {
      name,
      ack_policy: "none" as never,
      deliver_policy: "by_start_sequence" as never,
      opt_start_seq: start,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: 30_000_000_000,
    });
    let more = true;
    const maxBytes = Math.max(SCAN_BYTES, 2 * this.maxPayload);
    try {
      while (more) {
        const { received, answered, status } = await this.#puller.pull(name, { batch: SCAN_BATCH, noWait: true, maxBytes }, (msg) => {
          if (more) more = visit(new Delivery(msg));
        });
        // Unanswered after the visitor had enough is still the end of this scan.
        if (!answered) return !more;
        if (received > 0) continue;
        if (status === 404) break;
        throw new UnavailableError(`JetStream ended a read of ${this.what} with status ${status}; retry later`);
      }
      return true;
    } finally {
      this.jsm.consumers.delete(this.stream, name).catch(() => {});
    }
  }
}
