/**
 * A bench process that loads nothing but Node; its resident memory is the part of a worker's that
 * no queue library is responsible for.
 */
import { send } from "./messages.ts";

await send({ kind: "ready" });
setInterval(() => {}, 60_000);
