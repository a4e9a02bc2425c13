/**
 * Pull requests against durable consumers, one short-lived inbox per request.
 *
 * A request ends when its batch is filled or the server answers on the inbox with a status
 * (404 no messages for no_wait, 408 expired, 409 consumer gone or limits). A safety timer also
 * ends it if the server never answers (connection lost), and `abandonAll` ends every open request:
 * after a reconnect, since the server forgets pull requests across one, and at shutdown. The server
 * skips a request whose inbox has been unsubscribed, so an abandoned request receives nothing more.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { inboxOf } from "./inbox.ts";

export interface PullOptions {
  batch: number;
  /** Answer at once with what is there instead of waiting. */
  noWait?: boolean;
  /** How long the server keeps a waiting request open. */
  expiresMs?: number;
  /** Stop before this many bytes; keeps a batch of large messages from overrunning the client. */
  maxBytes?: number;
}

export interface PullResult {
  received: number;
  /** False when the request ended without the server's word: time-out, abandoned, or not sent. */
  answered: boolean;
  /** The status that ended the request (404 no messages, 408 expired, 409 …); absent when the batch filled. */
  status?: number;
}

/** How long after its expiry a request is given up on when the server does not answer. */
const SAFETY_MARGIN_MS = 5000;

export class Puller {
  readonly #open = new Set<() => void>();

  /**
   * `apiPrefix` is the JetStream client's (`$JS.API`, or `$JS.<domain>.API` across a leaf node).
   * `onError` receives what `onMsg` throws: an exception must not reach the client's read loop,
   * which would close the connection.
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly apiPrefix: string,
    private readonly stream: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Pulls up to `batch` messages, handing each to `onMsg` as it arrives. Never rejects. */
  pull(consumer: string, opts: PullOptions, onMsg: (msg: Msg) => void): Promise<PullResult> {
    return new Promise((resolve) => {
      const inbox = inboxOf(this.nc);
      let received = 0;
      let sub: Subscription | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (answered: boolean, status?: number) => {
        if (!this.#open.delete(abandon)) return;
        clearTimeout(timer);
        sub?.unsubscribe();
        resolve({ received, answered, status });
      };
      const abandon = () => finish(false);
      this.#open.add(abandon);
      const expiresMs = opts.expiresMs ?? 10_000;
      const request = {
        batch: opts.batch,
        ...(opts.noWait ? { no_wait: true } : { expires: expiresMs * 1e6 }),
        ...(opts.maxBytes && { max_bytes: opts.maxBytes }),
      };
      timer = setTimeout(abandon, (opts.noWait ? 0 : expiresMs) + SAFETY_MARGIN_MS);
      try {
        sub = this.nc.subscribe(inbox, {
          callback: (err, msg) => {
            if (err) return abandon();
            if (msg.subject === inbox) {
              // Status from the server; 100 is an idle heartbeat, anything else ends the request.
              if (msg.headers?.code !== 100) finish(true, msg.headers?.code);
              return;
            }
            received++;
            try {
              onMsg(msg);
            } catch (err) {
              this.onError(err);
            }
            if (received >= opts.batch) finish(true);
          },
        });
        this.nc.publish(`${this.apiPrefix}.CONSUMER.MSG.NEXT.${this.stream}.${consumer}`, JSON.stringify(request), {
          reply: inbox,
        });
      } catch {
        // The connection is closed or draining: the request never went out.
        abandon();
      }
    });
  }

  /** Ends every open request now. */
  abandonAll(): void {
    for (const abandon of [...this.#open]) abandon();
  }
}
