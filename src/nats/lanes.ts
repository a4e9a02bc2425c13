/**
 * Runs `work(0)` … `work(count - 1)` with at most `width` running at once, each lane taking the next
 * index as soon as its last is done, so the pipeline never drains between batches. After a failure
 * no new index is started; once the ones under way have settled, the first failure is rethrown.
 */
export async function inLanes(count: number, width: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < count) {
      await work(next++).catch((err) => {
        failed = true;
        throw err;
      });
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(width, count) }, lane));
  const failure = lanes.find((l) => l.status === "rejected");
  if (failure) throw failure.reason;
}
