/** Blocks the event loop for `ms`, as a CPU-bound handler does: no timer, socket read or lease renewal runs meanwhile. */
export function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // no await
  }
}
