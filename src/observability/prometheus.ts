/**
 * Prometheus text exposition format 0.0.4 (what `promtool check metrics` reads). Pure: metric
 * families in, text out. Values come from D1 aggregates (metrics.ts), so no client registry is
 * needed; hand-written output keeps every counter a function of durable state.
 */

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels: Labels;
  value: number;
}

export interface HistogramSeries {
  labels: Labels;
  /** Cumulative counts per upper bound, ascending; the `+Inf` bucket is added from `count`. */
  buckets: readonly { le: number; count: number }[];
  sum: number;
  count: number;
}

export type MetricFamily =
  | { name: string; help: string; type: "counter" | "gauge"; samples: readonly Sample[] }
  | { name: string; help: string; type: "histogram"; series: readonly HistogramSeries[] };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values escape backslash, double quote and line feed (in that order of concern). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes backslash and line feed only. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go's float syntax as Prometheus parses it: `+Inf`, `-Inf`, `NaN`, otherwise the shortest decimal. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return "";
  for (const [name] of pairs) {
    // `__` is reserved for Prometheus internals; a bad name is a programming error, not data.
    if (!LABEL_NAME.test(name) || name.startsWith("__")) throw new Error(`invalid Prometheus label name '${name}'`);
  }
  return `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function checkUnique(name: string, labelSets: readonly Labels[]): void {
  const seen = new Set<string>();
  for (const labels of labelSets) {
    const key = labelKey(labels);
    if (seen.has(key)) throw new Error(`duplicate series in '${name}': ${key}`);
    seen.add(key);
  }
}

function renderHistogram(name: string, series: HistogramSeries): string[] {
  if ("le" in series.labels) throw new Error(`histogram '${name}' cannot carry an 'le' label`);
  const lines: string[] = [];
  let previous = 0;
  let previousLe = Number.NEGATIVE_INFINITY;
  for (const bucket of series.buckets) {
    if (!(bucket.le > previousLe) || bucket.count < previous || bucket.count > series.count) {
      throw new Error(`histogram '${name}' buckets must have ascending bounds and cumulative counts`);
    }
    previous = bucket.count;
    previousLe = bucket.le;
    if (bucket.le === Number.POSITIVE_INFINITY) continue;
    lines.push(`${name}_bucket${formatLabels(series.labels, ["le", formatValue(bucket.le)])} ${bucket.count}`);
  }
  lines.push(`${name}_bucket${formatLabels(series.labels, ["le", "+Inf"])} ${series.count}`);
  lines.push(`${name}_sum${formatLabels(series.labels)} ${formatValue(series.sum)}`);
  lines.push(`${name}_count${formatLabels(series.labels)} ${series.count}`);
  return lines;
}

/**
 * Renders families in the order given, each with HELP and TYPE, ending with a newline. Throws on
 * invalid names, duplicate series or non-cumulative buckets: those are bugs, and a scrape that
 * fails loudly beats one that Prometheus rejects or misreads.
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const names = new Set<string>();
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new Error(`invalid Prometheus metric name '${family.name}'`);
    if (names.has(family.name)) throw new Error(`metric family '${family.name}' rendered twice`);
    names.add(family.name);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    if (family.type === "histogram") {
      checkUnique(
        family.name,
        family.series.map((s) => s.labels),
      );
      for (const series of family.series) lines.push(...renderHistogram(family.name, series));
    } else {
      checkUnique(
        family.name,
        family.samples.map((s) => s.labels),
      );
      for (const sample of family.samples) {
        lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Sums rows into one sample per distinct label set (e.g. several binding versions of one trigger),
 * sorted by label values in the order the labels are written, so successive scrapes diff cleanly.
 */
export function sumSamples(rows: Iterable<{ labels: Labels; value: number }>): Sample[] {
  const byKey = new Map<string, Sample>();
  for (const row of rows) {
    const key = labelKey(row.labels);
    const existing = byKey.get(key);
    if (existing) existing.value += row.value;
    else byKey.set(key, { labels: row.labels, value: row.value });
  }
  const order = (s: Sample) => JSON.stringify(Object.entries(s.labels));
  return [...byKey.values()].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}
