/** The results as a Markdown table: absolute figures, edgeq's ratios to the others, and the targets. */
import { describeTarget, fmt, type Row, targetMet } from "./results.ts";
import type { SystemName } from "./systems/system.ts";

export function table(rows: Row[], systems: SystemName[]): string {
  const others = systems.filter((s) => s !== "edgeq");
  const header = ["scenario", "figure", "unit", ...systems, ...others.map((s) => `edgeq / ${s}`), "target", "met"];
  const lines = rows.map((row) => {
    const ratios = others.map((s) => {
      const [mine, theirs] = [row.values.edgeq, row.values[s]];
      return mine === undefined || !theirs ? "–" : `${(mine / theirs).toFixed(2)}×`;
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
