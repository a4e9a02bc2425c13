/**
 * The throughput figures as a hand-written SVG bar chart: one group per figure, one bar per
 * system, each group scaled to its own largest value (the figures differ by orders of magnitude).
 */
import { fmt, type Row } from "./results.ts";
import type { SystemName } from "./systems/system.ts";

const COLORS: Record<SystemName, string> = { edgeq: "#2f6fdf", bullmq: "#d9534f", jetstream: "#7a7a7a" };
const WIDTH = 1190;
const LABEL = 560;
const BAR = 14;
const GAP = 12;
const TOP = 48;

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function chart(rows: Row[], systems: SystemName[], title: string): string {
  const charted = rows.filter((r) => r.chart);
  const groupHeight = systems.length * BAR + GAP;
  const height = TOP + charted.length * groupHeight + 10;
  const barSpace = WIDTH - LABEL - 110;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    ...systems.map((s, i) =>
      `<rect x="${LABEL + i * 110}" y="30" width="10" height="10" fill="${COLORS[s]}"/><text x="${LABEL + i * 110 + 14}" y="39">${s}</text>`
    ),
  ];
  charted.forEach((row, g) => {
    const y = TOP + g * groupHeight;
    const max = Math.max(...systems.map((s) => row.values[s] ?? 0));
    parts.push(`<text x="${LABEL - 8}" y="${y + (systems.length * BAR) / 2 + 4}" text-anchor="end">${escape(`${row.scenario}: ${row.metric}`)}</text>`);
    systems.forEach((s, i) => {
      const value = row.values[s];
      const width = value && max ? (value / max) * barSpace : 0;
      const by = y + i * BAR;
      parts.push(
        `<rect x="${LABEL}" y="${by}" width="${width.toFixed(1)}" height="${BAR - 2}" fill="${COLORS[s]}"/>`,
        `<text x="${LABEL + width + 4}" y="${by + BAR - 4}">${fmt(value)} ${escape(row.unit)}</text>`,
      );
    });
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
