/**
 * A work message handed to this worker by a pull consumer, with the acknowledgements JetStream
 * understands. Written against the raw reply subject because the client's own JsMsg is not exported
 * for messages pulled outside its iterators.
 */
import type { Msg } from "@nats-io/nats-core";

const encoder = new TextEncoder();
const ACK = encoder.encode("+ACK");
const WPI = encoder.encode("+WPI");
const TERM = encoder.encode("+TERM");

export class Delivery {
  readonly streamSeq: number;
  /** When the message was stored, in ms since the epoch. */
  readonly storedAt: number;
  /**
   * The server's count of deliveries of this message. More than 1 is surely a redelivery; 1 may
   * not be a first delivery: 2.9 rolls a redelivery back to 1 when it first went to a pull request
   * whose worker had gone (see the worker's attempts).
   */
  readonly deliveryCount: number;

  constructor(
    readonly msg: Msg,
    /** Sends an answer to the delivery; a worker sends them batched, once per event loop turn. */
    private readonly send: (subject: string, data: Uint8Array) => void = (_subject, data) => void msg.respond(data),
  ) {
    // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>, or with
    // <domain>.<account hash> after $JS.ACK on newer servers.
    const tokens = msg.reply?.split(".") ?? [];
    const base = tokens.length >= 11 ? 4 : 2;
    this.deliveryCount = Number(tokens[base + 2]);
    this.streamSeq = Number(tokens[base + 3]);
    this.storedAt = Math.floor(Number(tokens[base + 5]) / 1e6);
  }

  ack(): void {
    this.#respond(ACK);
  }

  #respond(data: Uint8Array): void {
    if (this.msg.reply) this.send(this.msg.reply, data);
  }

  /** Returns the message for redelivery after `delayMs` (immediately when 0). */
  nak(delayMs = 0): void {
    const delay = delayMs > 0 ? ` {"delay":${Math.round(delayMs * 1e6)}}` : "";
    this.#respond(encoder.encode(`-NAK${delay}`));
  }

  /** Resets the ack timer: the task is still being worked on. */
  working(): void {
    this.#respond(WPI);
  }

  /**
   * Stops redelivery for good. Bare `+TERM`: nats-server 2.9 ignores a `+TERM <reason>` and would
   * redeliver the message; the reason is in the task record.
   */
  term(): void {
    this.#respond(TERM);
  }
}
