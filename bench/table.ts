/**
 * The results as a Markdown table: absolute figures, edgeq's ratios to the others, and the targets,
 * with whether each is met ("–": a figure it needs was not measured).
 * With several rounds, a ratio is the median of the rounds' own ratios (see `ratio`), followed
 * by the lowest and highest of them.
 */
import { describeTarget, fmt, ratio, roundRatios, type Row, targetMet } from "./results.ts";
import { SHOWN_AS, type SystemName } from "./systems/system.ts";

export function table(rows: Row[], systems: SystemName[]): string {
  const others = systems.filter((s) => s !== "edgeq");
  const header = ["scenario", "figure", "unit", ...systems, ...others.map((s) => `edgeq / ${SHOWN_AS[s]}`), "target", "met"];
  const lines = rows.map((row) => {
    const ratios = others.map((s) => {
      const times = ratio(row, s);
      return times === undefined ? "–" : `${times.toFixed(2)}×${roundsRange(row, s)}`;
    });
    const targets = row.targets ?? [];
    const met = targets.map((t) => targetMet(row, t, rows));
    return [
      row.scenario,
      row.metric,
      row.unit,
      ...systems.map((s) => fmt(row.values[s])),
      ...ratios,
      targets.map(describeTarget).join("; "),
      met.every((m) => m === undefined) ? "" : met.map((m) => (m === undefined ? "–" : m ? "yes" : "**no**")).join("; "),
    ];
  });
  return [header, header.map(() => "---"), ...lines].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** " (low–high)" of the rounds' own ratios; empty with one round. */
function roundsRange(row: Row, other: SystemName): string {
  const ratios = roundRatios(row, other);
  return ratios?.length ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : "";
}
