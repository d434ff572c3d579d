/**
 * A strict reader of the Prometheus text format 0.0.4 for tests: it checks each line against the
 * grammar (HELP, TYPE, samples with escaped label values), that every sample belongs to a family
 * declared by TYPE before it, that histogram buckets are cumulative and end with `+Inf` = `_count`,
 * and that no series repeats. Returns the parsed samples.
 */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = "[a-zA-Z_][a-zA-Z0-9_]*";
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\\\\\|\\\\"|\\\\n)*"';
const VALUE = "(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]Inf|NaN)";
const SAMPLE = new RegExp(
  `^(${NAME})(?:\\{((?:${LABEL}=${LABEL_VALUE})(?:,${LABEL}=${LABEL_VALUE})*)?\\})? (${VALUE})$`,
);
const HELP = new RegExp(`^# HELP (${NAME}) ((?:[^\\\\\\n]|\\\\\\\\|\\\\n)*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const PAIR = new RegExp(`(${LABEL})=(${LABEL_VALUE})`, "g");

function unescapeLabelValue(quoted: string): string {
  return quoted.slice(1, -1).replace(/\\(\\|"|n)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function toNumber(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(text);
}

export function parseExposition(text: string): ParsedSample[] {
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline");
  const types = new Map<string, string>();
  const samples: ParsedSample[] = [];
  const seen = new Set<string>();
  let current: string | null = null;
  for (const [i, line] of text.slice(0, -1).split("\n").entries()) {
    const where = `line ${i + 1}: ${line}`;
    const help = HELP.exec(line);
    if (help) continue;
    const type = TYPE.exec(line);
    if (type?.[1] && type[2]) {
      if (types.has(type[1])) throw new Error(`TYPE repeated, ${where}`);
      types.set(type[1], type[2]);
      current = type[1];
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample?.[1] || sample[3] === undefined) throw new Error(`not in the text format grammar, ${where}`);
    const name = sample[1];
    const family = current;
    const kind = family ? types.get(family) : undefined;
    const suffixes = kind === "histogram" ? ["_bucket", "_sum", "_count"] : [""];
    if (!family || !suffixes.some((s) => name === `${family}${s}`)) {
      throw new Error(`sample outside its family, ${where}`);
    }
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? "").matchAll(PAIR)) {
      if (!m[1] || !m[2]) continue;
      if (m[1] in labels) throw new Error(`label repeated, ${where}`);
      labels[m[1]] = unescapeLabelValue(m[2]);
    }
    const key = JSON.stringify([name, Object.entries(labels).sort()]);
    if (seen.has(key)) throw new Error(`series repeated, ${where}`);
    seen.add(key);
    samples.push({ name, labels, value: toNumber(sample[3]) });
  }
  checkHistograms(types, samples);
  return samples;
}

function checkHistograms(types: Map<string, string>, samples: ParsedSample[]): void {
  for (const [family, kind] of types) {
    if (kind !== "histogram") continue;
    const groups = new Map<string, ParsedSample[]>();
    for (const s of samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${family}_bucket without le`);
      const key = JSON.stringify(Object.entries(rest).sort());
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    for (const [key, buckets] of groups) {
      let previous = Number.NEGATIVE_INFINITY;
      let previousCount = 0;
      for (const b of buckets) {
        const le = toNumber(b.labels.le ?? "");
        if (!(le > previous) || b.value < previousCount) throw new Error(`${family} buckets not cumulative`);
        previous = le;
        previousCount = b.value;
      }
      if (previous !== Number.POSITIVE_INFINITY) throw new Error(`${family} has no +Inf bucket`);
      const count = samples.find(
        (s) => s.name === `${family}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key,
      );
      if (count?.value !== previousCount) throw new Error(`${family}_count differs from the +Inf bucket`);
      if (!samples.some((s) => s.name === `${family}_sum`)) throw new Error(`${family}_sum missing`);
    }
  }
}
