/** The most of `runs` ([start, end] in ms) under way at one time; an end at the same ms as a start counts first. */
export function maxOverlap(runs: [number, number][]): number {
  const edges = runs.flatMap(([start, end]): [number, number][] => [[start, 1], [end, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, step] of edges) most = Math.max(most, (now += step));
  return most;
}
