/**
 * Tables for people: columns padded to their widest cell, a rule under the header. Written here:
 * cli-table3 pulls in @colors/colors, which needs Node's `util` and `os`, and the command also runs
 * from the WebSocket entry, which carries no Node built-in.
 */

type Cell = string | number | boolean | null | undefined;

/** Rows under a header; "(none)" when there are none. */
export function table(head: string[], rows: Cell[][]): string {
  if (rows.length === 0) return "(none)";
  const text = rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? "" : String(cell))));
  const widths = head.map((h, i) => Math.max(width(h), ...text.map((row) => width(row[i] ?? ""))));
  const line = (cells: string[]) => cells.map((c, i) => c + " ".repeat(widths[i] - width(c))).join("  ").trimEnd();
  return [line(head), widths.map((w) => "─".repeat(w)).join("  "), ...text.map(line)].join("\n");
}

/** One record as two columns, field and value; values as in `short`, cut at `max`. */
export function fields(entries: [string, unknown][], max = 80): string {
  const shown = entries.filter(([, value]) => value !== undefined);
  const pad = Math.max(...shown.map(([name]) => name.length));
  return shown.map(([name, value]) => `${name.padEnd(pad)}  ${short(value, max)}`).join("\n");
}

/** A value in one cell: strings as they are, anything else as JSON, cut at `max`. */
export function short(value: unknown, max = 40): string {
  const text = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  const line = text.replace(/\s*\n\s*/g, " ");
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Characters a cell takes on screen (code points: no East Asian wide characters in edgeq's fields). */
function width(text: string): number {
  return [...text].length;
}

/** "3 s ago", "2 min ago": how long before `now` an ISO time was. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
