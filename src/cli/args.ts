/**
 * Reading one command's arguments with `parseArgs` (node:util's, which Node, Deno and Bun all have;
 * the adapter passes it in, so that this file imports no runtime). Every check happens here, before
 * anything connects: unknown flags (with a "did you mean"), flags without their value, and the
 * number of positionals.
 */
import { UsageError } from "./usage-error.ts";

export interface FlagSpec {
  type: "string" | "boolean";
  /** `--name <value>` and what it does, for the command's help. */
  help: string;
  /** Placeholder of the value in the help (`N`, `queue`). */
  value?: string;
  short?: string;
}

export interface CommandSpec {
  name: string;
  /** Positionals as the help shows them: `<type> [data]`. */
  args: string;
  summary: string;
  /** Lines after the flags: examples, environment. */
  more?: string;
  flags: Record<string, FlagSpec>;
  positionals: [min: number, max: number];
}

/** node:util's parseArgs, as much of it as edgeq uses. */
export type ParseArgs = (config: {
  args: string[];
  options: Record<string, { type: "string" | "boolean"; short?: string }>;
  strict: false;
  allowPositionals: true;
}) => { values: Record<string, string | boolean | undefined>; positionals: string[] };

/** Flags every command takes. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  json: { type: "boolean", help: "print JSON, for scripts" },
  help: { type: "boolean", short: "h", help: "show this help; connects to nothing" },
};

export interface Parsed {
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses in non-strict mode and checks the result itself, so that the messages are edgeq's (and the
 * same on every runtime) and an unknown flag gets a suggestion.
 */
export function parseCommand(spec: CommandSpec, argv: string[], parseArgs: ParseArgs): Parsed {
  const all = { ...spec.flags, ...COMMON_FLAGS };
  const options = Object.fromEntries(Object.entries(all).map(([name, f]) => [name, { type: f.type, ...(f.short ? { short: f.short } : {}) }]));
  const { values, positionals } = parseArgs({ args: argv, options, strict: false, allowPositionals: true });
  if (values.help === true) return { flags: values, positionals };
  for (const [name, value] of Object.entries(values)) {
    const flag = all[name];
    if (!flag) {
      const guess = closest(name, Object.keys(all));
      throw new UsageError(`unknown flag --${name} for ${spec.name}${guess ? `; did you mean --${guess}?` : ""}`, spec.name);
    }
    if (flag.type === "string" && typeof value !== "string") throw new UsageError(`--${name} needs a value`, spec.name);
    if (flag.type === "boolean" && typeof value !== "boolean") throw new UsageError(`--${name} takes no value`, spec.name);
  }
  const [min, max] = spec.positionals;
  if (positionals.length < min) throw new UsageError(`${spec.name} needs ${spec.args}`, spec.name);
  if (positionals.length > max) {
    throw new UsageError(`${spec.name} takes ${max ? `at most ${spec.args}` : "no arguments"}; got ${positionals.map((p) => JSON.stringify(p)).join(" ")}`, spec.name);
  }
  return { flags: values, positionals };
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** A command's help: usage, summary, flags. */
export function commandHelp(spec: CommandSpec): string {
  const flags = Object.entries({ ...spec.flags, ...COMMON_FLAGS }).map(([name, f]) => {
    const left = `  --${name}${f.value ? ` <${f.value}>` : ""}${f.short ? `, -${f.short}` : ""}`;
    return `${left.padEnd(28)} ${f.help}`;
  });
  return [`usage: edgeq ${spec.name}${spec.args ? ` ${spec.args}` : ""} [flags]`, "", spec.summary, "", "flags:", ...flags, ...(spec.more ? ["", spec.more] : [])].join("\n");
}
