/**
 * The results as a Markdown table: absolute figures, edgeq's ratios to the others, and the targets.
 * With several rounds, a ratio is followed by the lowest and highest of the rounds' own ratios,
 * each taken between figures measured minutes apart.
 */
import { describeTarget, fmt, type Row, targetMet } from "./results.ts";
import type { SystemName } from "./systems/system.ts";

export function table(rows: Row[], systems: SystemName[]): string {
  const others = systems.filter((s) => s !== "edgeq");
  const header = ["scenario", "figure", "unit", ...systems, ...others.map((s) => `edgeq / ${s}`), "target", "met"];
  const lines = rows.map((row) => {
    const ratios = others.map((s) => {
      const [mine, theirs] = [row.values.edgeq, row.values[s]];
      return mine === undefined || !theirs ? "–" : `${(mine / theirs).toFixed(2)}×${roundsRange(row, s)}`;
    });
    const met = targetMet(row);
    return [
      row.scenario,
      row.metric,
      row.unit,
      ...systems.map((s) => fmt(row.values[s])),
      ...ratios,
      row.target ? describeTarget(row.target) : "",
      met === undefined ? "" : met ? "yes" : "**no**",
    ];
  });
  return [header, header.map(() => "---"), ...lines].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** " (low–high)" of edgeq's ratio to `other` in each round; empty with one round. */
function roundsRange(row: Row, other: SystemName): string {
  const [mine, theirs] = [row.rounds?.edgeq, row.rounds?.[other]];
  if (!mine || !theirs || mine.length < 2) return "";
  const ratios = mine.map((m, i) => m / theirs[i]).filter(Number.isFinite);
  return ratios.length ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : "";
}
