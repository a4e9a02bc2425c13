/**
 * JetStream requests on the hot path (publishes, record reads and writes), with their replies
 * matched by hand on one wildcard inbox and one timer for all of them.
 *
 * nats.js's `request()` (and so `js.publish` and `kv.put`) costs a promise chain, a timer and a
 * muxer lookup per request: pipelined publishes top out near 27,000/s on a 2-core machine. Matched
 * here, the same publishes reach the server's pace. Replies arrive on `<inbox>.<n>`; requests time
 * out together, in the order they were sent, since they share one time-out.
 */
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NoRespondersError,
  type Subscription,
  TimeoutError,
} from "@nats-io/nats-core";
import { JetStreamApiError } from "@nats-io/jetstream";

interface Pending {
  resolve(msg: Msg): void;
  reject(err: Error): void;
  /** Infinity until the flush sends it: a request's time-out runs from its sending. */
  sentAt: number;
  /** Where the request went, for the error when nothing listens there. */
  subject: string;
}

interface Outgoing {
  id: number;
  subject: string;
  data: Uint8Array | string;
  headers?: MsgHdrs;
}

/** What JetStream answers to a publish. */
export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

export class Requests {
  readonly #inbox = createInbox();
  readonly #pending = new Map<number, Pending>();
  #sub: Subscription | undefined;
  #next = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #outbox: Outgoing[] = [];

  constructor(
    private readonly nc: NatsConnection,
    /** `$JS.API`, or `$JS.<domain>.API` across a leaf node. */
    readonly apiPrefix: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** Sends a request; resolves with its reply, or rejects with TimeoutError or NoRespondersError. */
  request(subject: string, data: Uint8Array | string, headers?: MsgHdrs): Promise<Msg> {
    // On a subscription error there is no message; what is pending then times out.
    this.#sub ??= this.nc.subscribe(`${this.#inbox}.*`, {
      callback: (err, msg) => {
        if (!err) this.#answer(msg);
      },
    });
    const id = this.#next++;
    return new Promise<Msg>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, sentAt: Infinity, subject });
      // Swept in the turn after the timer's: after an event loop blocked past the time-out, the
      // answers waiting in the socket are read first, not counted as time-outs.
      this.#sweeper ??= setInterval(() => nextTurn(() => this.#sweep()), Math.max(100, this.timeoutMs / 4));
      if (this.#outbox.push({ id, subject, data, headers }) === 1) nextTurn(() => this.#flush());
    });
  }

  /**
   * Publishes what was requested since the last flush. nats.js writes to the socket after each
   * task in which something was published: requests made one by one (an HTTP request each) cost a
   * write each, where flushing once per event loop turn sends them in one.
   */
  #flush(): void {
    const outbox = this.#outbox;
    this.#outbox = [];
    const now = Date.now();
    for (const { id, subject, data, headers } of outbox) {
      const pending = this.#pending.get(id);
      if (pending) pending.sentAt = now;
      try {
        this.nc.publish(subject, data, { reply: `${this.#inbox}.${id}`, headers });
      } catch (err) {
        this.#pending.delete(id);
        pending?.reject(err as Error);
      }
    }
  }

  /** A JetStream publish: resolves with the stream's acknowledgement, rejects with its error. */
  async publish(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<PubAck> {
    const reply = await this.request(subject, data, headers);
    const ack = reply.json<PubAck & { error?: ConstructorParameters<typeof JetStreamApiError>[0] }>();
    if (ack.error) throw new JetStreamApiError(ack.error);
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate ?? false };
  }

  /** A stream's last message on `subject` (Direct Get); null if there is none. */
  async lastOf(stream: string, subject: string): Promise<Msg | null> {
    const reply = await this.request(`${this.apiPrefix}.DIRECT.GET.${stream}.${subject}`, "");
    const code = reply.headers?.code ?? 0;
    if (code === 404) return null;
    if (code !== 0) throw new JetStreamApiError({ code, err_code: 0, description: reply.headers?.description ?? `status ${code}` });
    return reply;
  }

  #answer(msg: Msg): void {
    const id = Number(msg.subject.slice(this.#inbox.length + 1));
    const pending = this.#pending.get(id);
    if (!pending) return; // timed out already
    this.#pending.delete(id);
    if (msg.headers?.code === 503) pending.reject(new NoRespondersError(pending.subject));
    else pending.resolve(msg);
  }

  #sweep(): void {
    const cutoff = Date.now() - this.timeoutMs;
    for (const [id, pending] of this.#pending) {
      if (pending.sentAt > cutoff) break; // sent in order: the rest are younger
      this.#pending.delete(id);
      pending.reject(new TimeoutError());
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

/** The next turn of the event loop: setImmediate on Node, Deno and Bun; a zero timer where there is none (edge hosts). */
const nextTurn: (fn: () => void) => unknown = globalThis.setImmediate ?? ((fn) => setTimeout(fn, 0));
