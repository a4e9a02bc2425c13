/**
 * A benchmark's results: one row per figure, with each system's value, and the target for
 * the figures that have one.
 */
import type { SystemName } from "./systems/system.ts";

export type Target =
  /** edgeq's value at least `value` times the other system's. */
  | { kind: "at-least-times"; vs: SystemName; value: number }
  /** edgeq's value at most `value` times the other system's. */
  | { kind: "at-most-times"; vs: SystemName; value: number }
  | { kind: "at-least"; value: number }
  | { kind: "below"; value: number };

export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  /** With several rounds, the median of each system's figures. */
  values: Partial<Record<SystemName, number>>;
  /** Each round's figure, in round order, when there was more than one round. */
  rounds?: Partial<Record<SystemName, number[]>>;
  target?: Target;
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
  switch (target.kind) {
    case "at-least-times":
      return `≥ ${target.value}× ${target.vs}`;
    case "at-most-times":
      return `≤ ${target.value}× ${target.vs}`;
    case "at-least":
      return `≥ ${target.value.toLocaleString("en-US")}`;
    case "below":
      return `< ${target.value}`;
  }
}

/**
 * edgeq's figure over `other`'s. With rounds, the median of the rounds' own ratios: each is taken
 * between figures measured minutes apart, where the medians of the figures may come from rounds
 * the machine ran at different speeds.
 */
export function ratio(row: Row, other: SystemName): number | undefined {
  const ratios = roundRatios(row, other);
  if (ratios) return ratios.length ? median(ratios) : undefined;
  const [mine, theirs] = [row.values.edgeq, row.values[other]];
  return mine === undefined || !theirs ? undefined : mine / theirs;
}

/** Each round's ratio of edgeq's figure to `other`'s; undefined with one round. */
export function roundRatios(row: Row, other: SystemName): number[] | undefined {
  const [mine, theirs] = [row.rounds?.edgeq, row.rounds?.[other]];
  if (!mine || !theirs) return undefined;
  return mine.map((m, i) => m / theirs[i]).filter(Number.isFinite);
}

/** Whether edgeq meets the row's target; undefined when a figure it needs was not measured. */
export function targetMet(row: Row): boolean | undefined {
  const { target, values } = row;
  const edgeq = values.edgeq;
  if (!target || edgeq === undefined) return undefined;
  switch (target.kind) {
    case "at-least-times":
    case "at-most-times": {
      const times = ratio(row, target.vs);
      if (times === undefined) return undefined;
      return target.kind === "at-least-times" ? times >= target.value : times <= target.value;
    }
    case "at-least":
      return edgeq >= target.value;
    case "below":
      return edgeq < target.value;
  }
}

/** What `bench/results/latest.json` holds. */
export interface Report {
  date: string;
  machine: { cpus: number; model: string; loadAverageAtStart: number[]; node: string; natsServer: string };
  options: { quick: boolean; systems: SystemName[]; rounds: number; sizes: object };
  rows: Row[];
  seconds: number;
}
