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
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NoRespondersError,
  type Subscription,
  TimeoutError,
} from "@nats-io/nats-core";
import { JetStreamApiError } from "@nats-io/jetstream";
import { inboxOf } from "./inbox.ts";

/** Called once per request: with its reply, or with TimeoutError, NoRespondersError or a publish error; `tag` is the request's. */
export type OnReply = (err: Error | null, reply: Msg | null, tag: number) => void;
/** Called once per JetStream publish: with the stream's acknowledgement, or its error. */
export type OnAck = (err: Error | null, ack: PubAck | null, tag: number) => void;

/** A request from when it is made until it is answered (or, posted, sent). */
interface Pending {
  /** NO_REPLY for a message that expects no answer. */
  id: number;
  subject: string;
  data: Uint8Array | string;
  headers: MsgHdrs | undefined;
  /** One of the two: a request's reply, or a publish's acknowledgement read from it. */
  onReply: OnReply | undefined;
  onAck: OnAck | undefined;
  /** Handed back to the callback: a callback shared by many requests tells them apart by it. */
  tag: number;
  /** Infinity until the flush sends it: a request's time-out runs from its sending. */
  sentAt: number;
}

/** A message to publish to a stream. */
export interface StreamMessage {
  subject: string;
  body: Uint8Array;
  headers?: MsgHdrs;
}

/** What JetStream answers to a publish. */
export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

export class Requests {
  readonly #inbox: string;
  readonly #pending = new Map<number, Pending>();
  #sub: Subscription | undefined;
  #next = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #outbox: Pending[] = [];
  #flushing = false;
  /** Called at the next flush, before it sends: what they post goes with it. */
  #gatherers: (() => void)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    /** `$JS.API`, or `$JS.<domain>.API` across a leaf node. */
    readonly apiPrefix: string,
    private readonly timeoutMs = 5000,
  ) {
    this.#inbox = inboxOf(nc);
  }

  /** Sends a request; resolves with its reply, or rejects with TimeoutError or NoRespondersError. */
  request(subject: string, data: Uint8Array | string, headers?: MsgHdrs): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => this.send(subject, data, headers, (err, reply) => (err ? reject(err) : resolve(reply!))));
  }

  /**
   * Sends a request and calls `onReply` once with its outcome: the hot path's form, which costs a
   * map entry per request and no promise.
   */
  send(subject: string, data: Uint8Array | string, headers: MsgHdrs | undefined, onReply: OnReply, tag = 0): void {
    this.#enqueue({ id: this.#next++, subject, data, headers, onReply, onAck: undefined, tag, sentAt: Infinity });
  }

  /** A JetStream publish with a callback: the stream's acknowledgement, or its error. */
  sendPublish(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, onAck: OnAck, tag = 0): void {
    this.#enqueue({ id: this.#next++, subject, data, headers, onReply: undefined, onAck, tag, sentAt: Infinity });
  }

  /**
   * A publish that needs no answer (an ack of a delivery), sent with the next flush: answers made
   * one by one in promise continuations would otherwise cost a socket write each.
   */
  post(subject: string, data: Uint8Array | string): void {
    this.#enqueue({ id: NO_REPLY, subject, data, headers: undefined, onReply: undefined, onAck: undefined, tag: 0, sentAt: Infinity });
  }

  #enqueue(request: Pending): void {
    if (request.id !== NO_REPLY) {
      // On a subscription error there is no message; what is pending then times out.
      this.#sub ??= this.nc.subscribe(`${this.#inbox}.*`, {
        callback: (err, msg) => {
          if (!err) this.#answer(msg);
        },
      });
      this.#pending.set(request.id, request);
      // Swept in the turn after the timer's: after an event loop blocked past the time-out, the
      // answers waiting in the socket are read first, not counted as time-outs.
      this.#sweeper ??= setInterval(() => nextTurn(() => this.#sweep()), Math.max(100, this.timeoutMs / 4));
    }
    this.#outbox.push(request);
    this.#flushNextTurn();
  }

  /**
   * Calls `gather` at the next flush, before it sends: a source of many small messages (task
   * events) holds them until then, and posts one message for many.
   */
  beforeFlush(gather: () => void): void {
    this.#gatherers.push(gather);
    this.#flushNextTurn();
  }

  #flushNextTurn(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    nextTurn(() => this.#flush());
  }

  /**
   * JetStream publishes of many messages, at most `window` unanswered at once; resolves with each
   * one's acknowledgement or error, in order. No promise or timer per message.
   */
  publishAll(messages: readonly StreamMessage[], window: number): Promise<(PubAck | Error)[]> {
    const results = new Array<PubAck | Error>(messages.length);
    if (messages.length === 0) return Promise.resolve(results);
    return new Promise((resolve) => {
      let next = 0;
      let unanswered = 0;
      let answered = 0;
      const onAck: OnAck = (err, ack, i) => {
        results[i] = err ?? ack!;
        unanswered--;
        if (++answered === messages.length) resolve(results);
        // Refilled once half the window is free: one loop per half window, not per answer.
        else if (unanswered <= window / 2) sendMore();
      };
      const sendMore = () => {
        for (; next < messages.length && unanswered < window; next++, unanswered++) {
          const { subject, body, headers } = messages[next];
          this.sendPublish(subject, body, headers, onAck, next);
        }
      };
      sendMore();
    });
  }

  /**
   * Publishes what was requested since the last flush. nats.js writes to the socket after each
   * task in which something was published: requests made one by one (an HTTP request each) cost a
   * write each, where flushing once per event loop turn sends them in one.
   */
  #flush(): void {
    const gatherers = this.#gatherers;
    this.#gatherers = [];
    for (const gather of gatherers) gather();
    const outbox = this.#outbox;
    this.#outbox = [];
    this.#flushing = false;
    const now = Date.now();
    for (const request of outbox) {
      const { id, subject, data, headers } = request;
      if (id === NO_REPLY) {
        try {
          this.nc.publish(subject, data);
        } catch {
          // Closed: an answer that cannot go is as if lost, and the server redelivers.
        }
        continue;
      }
      request.sentAt = now;
      try {
        this.nc.publish(subject, data, { reply: `${this.#inbox}.${id}`, headers });
      } catch (err) {
        if (this.#pending.delete(id)) this.#call(request, err as Error, null);
      }
    }
  }

  /** A JetStream publish: resolves with the stream's acknowledgement, rejects with its error. */
  async publish(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<PubAck> {
    return readPubAck(await this.request(subject, data, headers));
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
    if (msg.headers?.code === 503) this.#call(pending, new NoRespondersError(pending.subject), null);
    else this.#call(pending, null, msg);
  }

  /** Calls a request's callback; a publish's with the acknowledgement read from its reply. */
  #call(request: Pending, err: Error | null, reply: Msg | null): void {
    if (request.onReply) return request.onReply(err, reply, request.tag);
    let ack: PubAck | null = null;
    if (!err) {
      try {
        ack = readPubAck(reply!);
      } catch (refused) {
        err = refused as Error;
      }
    }
    request.onAck!(err, ack, request.tag);
  }

  #sweep(): void {
    const cutoff = Date.now() - this.timeoutMs;
    for (const [id, pending] of this.#pending) {
      if (pending.sentAt > cutoff) break; // sent in order: the rest are younger
      this.#pending.delete(id);
      this.#call(pending, new TimeoutError(), null);
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

/** The id of an outgoing message that expects no reply. */
const NO_REPLY = -1;

/** A publish's reply as a PubAck; throws JetStream's refusal as a JetStreamApiError. */
function readPubAck(reply: Msg): PubAck {
  const ack = reply.json<PubAck & { error?: ConstructorParameters<typeof JetStreamApiError>[0] }>();
  if (ack.error) throw new JetStreamApiError(ack.error);
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate ?? false };
}

/** The next turn of the event loop: setImmediate on Node, Deno and Bun; a zero timer where there is none (edge hosts). */
const nextTurn: (fn: () => void) => unknown = globalThis.setImmediate ?? ((fn) => setTimeout(fn, 0));
