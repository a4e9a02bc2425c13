/**
 * Reply inboxes under the connection's own prefix. A least-privilege user may subscribe only to
 * its prefix (`inboxPrefix` in the connect options, `NATS_INBOX_PREFIX`), so that no other user can
 * read its replies; every inbox edgeq makes itself follows the connection's prefix, as nats.js's
 * own requests and JetStream consumers do.
 */
import { createInbox, type NatsConnection } from "@nats-io/nats-core";

/** A new inbox under `nc`'s prefix (`_INBOX` unless the connection was given another). */
export function inboxOf(nc: NatsConnection): string {
  // The NatsConnection interface does not declare `options`; nats.js's JetStream reads it the same way.
  return createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
}
