/**
 * Reading a stream from a given sequence, as listings and sweeps need: an ephemeral consumer
 * without acks, pulled in batches until the visitor has seen enough or the stream ends.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { Puller } from "./puller.ts";
import { Delivery } from "./delivery.ts";
import { UnavailableError } from "./errors.ts";
import type { NatsConnection } from "@nats-io/nats-core";

/** Per pull: at most this many messages, and (at least) this many bytes. */
export const SCAN_BATCH = 256;
const SCAN_BYTES = 4 * 1024 * 1024;

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

  /** Hands the stream's messages from `start` on to `visit` until it returns false or the stream ends. */
  async scan(start: number, visit: (delivery: Delivery) => boolean): Promise<void> {
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
        if (!answered) throw new UnavailableError(`JetStream did not answer while reading ${this.what}; retry later`);
        if (received > 0) continue;
        if (status === 404) break;
        throw new UnavailableError(`JetStream ended a read of ${this.what} with status ${status}; retry later`);
      }
    } finally {
      this.jsm.consumers.delete(this.stream, name).catch(() => {});
    }
  }
}
