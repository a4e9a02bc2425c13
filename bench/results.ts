/**
 * A benchmark's results: one row per figure, with each system's value, and the targets for
 * the figures that have them.
 */
import { SHOWN_AS, type SystemName } from "./systems/system.ts";

/**
 * What edgeq's figure must be, `op` the bound: `value` itself, or `value` times another figure:
 * another system's on the same row, or edgeq's own on the row of the same scenario whose metric
 * starts with `vs.row`.
 */
export interface Target {
  op: "≥" | ">" | "≤" | "<";
  value: number;
  vs?: SystemName | { row: string };
}

export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  /** With several rounds, the median of each system's figures. */
  values: Partial<Record<SystemName, number>>;
  /** Each round's figure, in round order, when there was more than one round. */
  rounds?: Partial<Record<SystemName, number[]>>;
  /** All of them are edgeq's to meet. */
  targets?: Target[];
  /** Bars of the chart: throughput figures only, where higher is better. */
  chart?: boolean;
}

/**
 * One row per figure from the rows each round returned (the same figures in the same order): the
 * median of each system's figures, and the figures themselves.
 */
export function mergeRounds(rounds: Row[][]): Row[] {
  if (rounds.length === 1) return rounds[0];
  return rounds[0].map((first, i) => {
    const perRound: Partial<Record<SystemName, number[]>> = {};
    for (const round of rounds) {
      for (const [system, value] of Object.entries(round[i].values) as [SystemName, number][]) (perRound[system] ??= []).push(value);
    }
    const values = Object.fromEntries(Object.entries(perRound).map(([system, figures]) => [system, median(figures!)]));
    return { ...first, values, rounds: perRound };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A figure as the table shows it: thousands separated, decimals only for small values. */
export function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "–";
  return n.toLocaleString("en-US", { maximumFractionDigits: Math.abs(n) < 10 ? 2 : Math.abs(n) < 1000 ? 1 : 0 });
}

export function describeTarget(target: Target): string {
  const { op, value, vs } = target;
  if (vs === undefined) return `${op} ${value.toLocaleString("en-US")}`;
  return `${op} ${value}× ${typeof vs === "string" ? SHOWN_AS[vs] : vs.row}`;
}

/** A system's figures on a row: the one the table gives, and each round's. */
interface Figure {
  value: number | undefined;
  rounds: number[] | undefined;
}

const figure = (row: Row, system: SystemName): Figure => ({ value: row.values[system], rounds: row.rounds?.[system] });

/**
 * edgeq's figure over `other`'s. With rounds, the median of the rounds' own ratios: each is taken
 * between figures measured minutes apart, where the medians of the figures may come from rounds
 * the machine ran at different speeds.
 */
export function ratio(row: Row, other: SystemName): number | undefined {
  return over(figure(row, "edgeq"), figure(row, other));
}

/** Each round's ratio of edgeq's figure to `other`'s; undefined with one round. */
export function roundRatios(row: Row, other: SystemName): number[] | undefined {
  return roundsOver(figure(row, "edgeq"), figure(row, other));
}

/** One figure over another, the way `ratio` takes it. */
function over(mine: Figure, theirs: Figure): number | undefined {
  const ratios = roundsOver(mine, theirs);
  if (ratios) return ratios.length ? median(ratios) : undefined;
  return mine.value === undefined || !theirs.value ? undefined : mine.value / theirs.value;
}

function roundsOver(mine: Figure, theirs: Figure): number[] | undefined {
  if (!mine.rounds || !theirs.rounds) return undefined;
  return mine.rounds.map((m, i) => m / theirs.rounds![i]).filter(Number.isFinite);
}

/**
 * Whether edgeq meets one of the row's targets; `rows` are all of the run's, for a target relative
 * to another row. Undefined when a figure it needs was not measured.
 */
export function targetMet(row: Row, target: Target, rows: Row[]): boolean | undefined {
  const measured = bounded(row, target, rows);
  if (measured === undefined) return undefined;
  switch (target.op) {
    case "≥":
      return measured >= target.value;
    case ">":
      return measured > target.value;
    case "≤":
      return measured <= target.value;
    case "<":
      return measured < target.value;
  }
}

/** What a target bounds: edgeq's figure, or its ratio to the other figure. */
function bounded(row: Row, { vs }: Target, rows: Row[]): number | undefined {
  if (vs === undefined) return row.values.edgeq;
  if (typeof vs === "string") return ratio(row, vs);
  const other = rows.find((r) => r.scenario === row.scenario && r.metric.startsWith(vs.row));
  return other && over(figure(row, "edgeq"), figure(other, "edgeq"));
}

/** What `bench/results/latest.json` holds. */
export interface Report {
  date: string;
  machine: { cpus: number; model: string; loadAverageAtStart: number[]; node: string; natsServer: string };
  options: { quick: boolean; systems: SystemName[]; rounds: number; sizes: object };
  rows: Row[];
  seconds: number;
}
