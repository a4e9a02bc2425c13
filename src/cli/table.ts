/** Tables for people (cli-table3: plain JavaScript, so it runs on Node, Deno and Bun). */
import Table from "cli-table3";

type Cell = string | number | boolean | null | undefined;

/** No rule between rows: a listing stays one line a row. */
const COMPACT = { chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" }, style: { head: [], border: [] } };

/** Rows under a header; "(none)" when there are none. */
export function table(head: string[], rows: Cell[][]): string {
  if (rows.length === 0) return "(none)";
  const t = new Table({ head, ...COMPACT });
  t.push(...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? "" : String(cell)))));
  return t.toString();
}

/** One record as two columns, field and value; objects as compact JSON cut at `width` characters. */
export function fields(entries: [string, unknown][], width = 80): string {
  const t = new Table(COMPACT);
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    t.push({ [name]: short(value, width) });
  }
  return t.toString();
}

/** A value in one cell: strings as they are, anything else as JSON, cut at `width`. */
export function short(value: unknown, width = 40): string {
  const text = value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** "3 s ago", "2 min ago": how long before `now` an ISO time was. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
