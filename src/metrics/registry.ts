/**
 * A minimal Prometheus registry: counters, gauges and histograms with labels, written in the text
 * exposition format 0.0.4. Written here rather than taken from prom-client, the well-kept library:
 * prom-client is CommonJS and loads node:cluster, v8 and perf_hooks with its default metrics, and
 * the registry must run where the worker runs (Node, Deno, Bun, and the WebSocket entry's hosts
 * that have no Node built-ins). What edgeq needs of it is this file.
 */

export type Labels = Readonly<Record<string, string>>;

/** Content-Type of the text exposition format. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  lines(): string[];
}

/** A series per distinct set of label values. */
class Series<T> {
  readonly #series = new Map<string, { labels: Labels; value: T }>();
  constructor(private readonly make: () => T) {}

  get(labels: Labels): T {
    const key = labelText(labels);
    let entry = this.#series.get(key);
    if (!entry) this.#series.set(key, entry = { labels, value: this.make() });
    return entry.value;
  }

  clear(): void {
    this.#series.clear();
  }

  entries(): [string, T][] {
    return [...this.#series].map(([key, { value }]) => [key, value]);
  }
}

export class Counter {
  readonly #series = new Series(() => ({ n: 0 }));
  inc(labels: Labels = {}, by = 1): void {
    this.#series.get(labels).n += by;
  }
  lines(name: string): string[] {
    return this.#series.entries().map(([labels, { n }]) => `${name}${labels} ${number(n)}`);
  }
}

export class Gauge {
  readonly #series = new Series(() => ({ n: 0 }));
  set(labels: Labels, value: number): void {
    this.#series.get(labels).n = value;
  }
  /** Drops every series: a gauge read afresh at each scrape keeps only what it sets then. */
  reset(): void {
    this.#series.clear();
  }
  lines(name: string): string[] {
    return this.#series.entries().map(([labels, { n }]) => `${name}${labels} ${number(n)}`);
  }
}

export class Histogram {
  readonly #series: Series<{ counts: number[]; sum: number; count: number }>;
  constructor(readonly buckets: readonly number[]) {
    this.#series = new Series(() => ({ counts: buckets.map(() => 0), sum: 0, count: 0 }));
  }
  observe(labels: Labels, value: number): void {
    const s = this.#series.get(labels);
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  lines(name: string): string[] {
    return this.#series.entries().flatMap(([labels, s]) => {
      const inner = labels.slice(1, -1); // the braces' content, to add `le` to
      const le = (bound: string) => `${name}_bucket{${inner ? `${inner},` : ""}le="${bound}"} `;
      return [
        ...this.buckets.map((b, i) => le(number(b)) + s.counts[i]),
        le("+Inf") + s.count,
        `${name}_sum${labels} ${number(s.sum)}`,
        `${name}_count${labels} ${s.count}`,
      ];
    });
  }
}

export class Registry {
  readonly #families: Family[] = [];

  counter(name: string, help: string): Counter {
    return this.#add(name, help, "counter", new Counter());
  }

  gauge(name: string, help: string): Gauge {
    return this.#add(name, help, "gauge", new Gauge());
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.#add(name, help, "histogram", new Histogram(buckets));
  }

  /** Every family, in the order they were made, as the text format. */
  render(): string {
    return this.#families.map((f) => [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.lines()].join("\n")).join("\n") + "\n";
  }

  #add<M extends { lines(name: string): string[] }>(name: string, help: string, type: Family["type"], metric: M): M {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name) || this.#families.some((f) => f.name === name)) throw new Error(`bad or repeated metric name ${name}`);
    this.#families.push({ name, help, type, lines: () => metric.lines(name) });
    return metric;
  }
}

/** `{a="1",b="2"}`, or nothing without labels; values escaped as the format says. */
function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function number(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "+Inf" : "-Inf";
  return String(n);
}
