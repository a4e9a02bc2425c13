/**
 * `edgeq submit --file tasks.jsonl`: each line a POST /tasks body, submitted in chunks with
 * `submitMany` (one flush of publishes per chunk and queue). A line that is not a valid task is
 * refused alone, with its line number; a chunk the server refuses (a full queue, NATS gone) is
 * refused whole. The summary counts accepted, duplicate and refused lines.
 */
import type { Edgeq, TaskSpec } from "../client/mod.ts";
import { describeIssues } from "../nats/mod.ts";
import { DEFAULT_QUEUE, type Priority } from "../wire/mod.ts";
import { optionsOf, submitBodySchema } from "../api/schemas.ts";
import type { Context, Output } from "./command.ts";
import { ProgressBar } from "./progress.ts";

const CHUNK = 500;
/** Reasons kept for the summary; the counts cover them all. */
const REASONS_SHOWN = 10;

interface Defaults {
  priority?: Priority;
  queue?: string;
  delay?: number;
}

interface Line {
  line: number;
  queue: string;
  spec: TaskSpec;
}

export async function submitFile(edgeq: Edgeq, text: string, defaults: Defaults, ctx: Context): Promise<Output> {
  const refused: { line: number; reason: string }[] = [];
  const valid: Line[] = [];
  text.split("\n").forEach((raw, i) => {
    if (!raw.trim()) return;
    const parsed = parseLine(raw, defaults);
    if ("reason" in parsed) refused.push({ line: i + 1, reason: parsed.reason });
    else valid.push({ line: i + 1, ...parsed });
  });
  const total = valid.length + refused.length;
  const bar = new ProgressBar(ctx.runtime.terminal, total, "submitting");
  let accepted = 0;
  let duplicate = 0;
  bar.update(refused.length);
  for (let start = 0; start < valid.length; start += CHUNK) {
    const chunk = valid.slice(start, start + CHUNK);
    for (const [queue, lines] of groupBy(chunk, (l) => l.queue)) {
      try {
        const submitted = await edgeq.queue(queue).submitMany(lines.map((l) => l.spec));
        for (const s of submitted) s.duplicate ? duplicate++ : accepted++;
      } catch (err) {
        // submitMany names the failing task by its index in the chunk.
        const index = Number(/^task (\d+):/.exec((err as Error).message)?.[1] ?? -1);
        for (const [k, l] of lines.entries()) refused.push({ line: l.line, reason: index === -1 || index === k ? (err as Error).message : "refused with its chunk" });
      }
    }
    bar.update(refused.length + accepted + duplicate);
  }
  bar.stop();
  refused.sort((a, b) => a.line - b.line);
  const summary = { lines: total, accepted, duplicate, refused: refused.length };
  const reasons = refused.slice(0, REASONS_SHOWN).map((r) => `  line ${r.line}: ${r.reason}`);
  const more = refused.length > REASONS_SHOWN ? [`  … and ${refused.length - REASONS_SHOWN} more (--json lists them all)`] : [];
  return {
    json: { ...summary, refused_lines: refused },
    text: [`accepted ${accepted}, duplicate ${duplicate}, refused ${refused.length} (of ${total} lines)`, ...reasons, ...more].join("\n"),
    exitCode: refused.length ? 1 : 0,
  };
}

/** One line as a task, with the command's --priority, --queue and --delay as defaults. */
function parseLine(raw: string, defaults: Defaults): { queue: string; spec: TaskSpec } | { reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { reason: "not JSON" };
  }
  const parsed = submitBodySchema.safeParse(json);
  if (!parsed.success) return { reason: describeIssues(parsed.error) };
  const body = parsed.data;
  const delayed = body.delay_ms !== undefined || body.run_at !== undefined;
  const spec: TaskSpec = { type: body.type, data: body.data, ...optionsOf(body) };
  spec.priority ??= defaults.priority;
  if (!delayed && defaults.delay !== undefined) spec.delayMs = defaults.delay;
  return { queue: body.queue ?? defaults.queue ?? DEFAULT_QUEUE, spec };
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
