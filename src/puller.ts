/**
 * Pull requests against durable consumers, one short-lived inbox per request.
 *
 * A request ends when its batch is filled or the server answers on the inbox with a status
 * (404 no messages for no_wait, 408 expired, 409 consumer gone or limits). A safety timer also
 * ends it if the server never answers (connection lost), and `abandonAll` ends every open request
 * after a reconnect, since the server forgets pull requests across a reconnect.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";

export interface PullOptions {
  batch: number;
  /** Answer at once with what is there instead of waiting. */
  noWait?: boolean;
  /** How long the server keeps a waiting request open. */
  expiresMs?: number;
}

/** How long after its expiry a request is given up on when the server does not answer. */
const SAFETY_MARGIN_MS = 5000;

export class Puller {
  readonly #open = new Set<() => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
  ) {}

  /**
   * Pulls up to `batch` messages, handing each to `onMsg` as it arrives; resolves with the count
   * received. Never rejects: a request that cannot be sent ends with 0.
   */
  pull(consumer: string, opts: PullOptions, onMsg: (msg: Msg) => void): Promise<number> {
    return new Promise((resolve) => {
      const inbox = createInbox();
      let received = 0;
      let sub: Subscription | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        if (!this.#open.delete(finish)) return;
        clearTimeout(timer);
        sub?.unsubscribe();
        resolve(received);
      };
      this.#open.add(finish);
      const request = opts.noWait
        ? { batch: opts.batch, no_wait: true }
        : { batch: opts.batch, expires: (opts.expiresMs ?? 10_000) * 1e6 };
      timer = setTimeout(finish, (opts.noWait ? 0 : opts.expiresMs ?? 10_000) + SAFETY_MARGIN_MS);
      try {
        sub = this.nc.subscribe(inbox, {
          callback: (err, msg) => {
            if (err) return finish();
            if (msg.subject === inbox) {
              // Status from the server; 100 is an idle heartbeat, anything else ends the request.
              if (msg.headers?.code !== 100) finish();
              return;
            }
            received++;
            onMsg(msg);
            if (received >= opts.batch) finish();
          },
        });
        this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${consumer}`, JSON.stringify(request), {
          reply: inbox,
        });
      } catch {
        // The connection is closed or draining: the request never went out.
        finish();
      }
    });
  }

  /** Ends every open request as if it had expired. */
  abandonAll(): void {
    for (const finish of [...this.#open]) finish();
  }
}
