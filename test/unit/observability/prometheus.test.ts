import { describe, expect, it } from "vitest";
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  type MetricFamily,
  renderExposition,
  sumSamples,
} from "../../../src/observability/prometheus";
import { parseExposition } from "./exposition-grammar";

describe("escaping (text format 0.0.4)", () => {
  it.each([
    ["plain", "plain"],
    ["back\\slash", "back\\\\slash"],
    ['say "hi"', 'say \\"hi\\"'],
    ["two\nlines", "two\\nlines"],
    ['\\"\n', '\\\\\\"\\n'],
    ["tab\tand unicode é", "tab\tand unicode é"],
  ])("label value %j → %j", (raw, escaped) => {
    expect(escapeLabelValue(raw)).toBe(escaped);
  });

  it("HELP escapes backslash and newline but not quotes", () => {
    expect(escapeHelp('a "b" \\ c\nd')).toBe('a "b" \\\\ c\\nd');
  });

  it.each([
    [0, "0"],
    [42, "42"],
    [0.005, "0.005"],
    [1e-7, "1e-7"],
    [Number.POSITIVE_INFINITY, "+Inf"],
    [Number.NEGATIVE_INFINITY, "-Inf"],
    [Number.NaN, "NaN"],
  ])("value %d → %s", (value, text) => {
    expect(formatValue(value)).toBe(text);
  });
});

const sample: MetricFamily[] = [
  {
    name: "demo_requests_total",
    help: "Requests with \\ and\nnewline in help.",
    type: "counter",
    samples: [
      { labels: { path: '/a"b', code: "200" }, value: 3 },
      { labels: { path: "C:\\dir\nx", code: "500" }, value: 1 },
    ],
  },
  { name: "demo_depth", help: "A gauge without labels.", type: "gauge", samples: [{ labels: {}, value: 7 }] },
  { name: "demo_empty_total", help: "A family with no series yet.", type: "counter", samples: [] },
  {
    name: "demo_latency_seconds",
    help: "A histogram.",
    type: "histogram",
    series: [
      {
        labels: {},
        buckets: [
          { le: 0.1, count: 1 },
          { le: 1, count: 3 },
        ],
        sum: 2.25,
        count: 4,
      },
      {
        labels: { kind: "a2a" },
        buckets: [
          { le: 0.1, count: 0 },
          { le: 1, count: 0 },
        ],
        sum: 0,
        count: 0,
      },
    ],
  },
];

describe("renderExposition", () => {
  it("renders HELP, TYPE, samples and cumulative histogram lines", () => {
    expect(renderExposition(sample)).toBe(
      [
        "# HELP demo_requests_total Requests with \\\\ and\\nnewline in help.",
        "# TYPE demo_requests_total counter",
        'demo_requests_total{path="/a\\"b",code="200"} 3',
        'demo_requests_total{path="C:\\\\dir\\nx",code="500"} 1',
        "# HELP demo_depth A gauge without labels.",
        "# TYPE demo_depth gauge",
        "demo_depth 7",
        "# HELP demo_empty_total A family with no series yet.",
        "# TYPE demo_empty_total counter",
        "# HELP demo_latency_seconds A histogram.",
        "# TYPE demo_latency_seconds histogram",
        'demo_latency_seconds_bucket{le="0.1"} 1',
        'demo_latency_seconds_bucket{le="1"} 3',
        'demo_latency_seconds_bucket{le="+Inf"} 4',
        "demo_latency_seconds_sum 2.25",
        "demo_latency_seconds_count 4",
        'demo_latency_seconds_bucket{kind="a2a",le="0.1"} 0',
        'demo_latency_seconds_bucket{kind="a2a",le="1"} 0',
        'demo_latency_seconds_bucket{kind="a2a",le="+Inf"} 0',
        'demo_latency_seconds_sum{kind="a2a"} 0',
        'demo_latency_seconds_count{kind="a2a"} 0',
        "",
      ].join("\n"),
    );
  });

  it("output parses under the text-format grammar and round-trips escaped label values", () => {
    const parsed = parseExposition(renderExposition(sample));
    expect(parsed.filter((s) => s.name === "demo_requests_total").map((s) => s.labels.path)).toEqual([
      '/a"b',
      "C:\\dir\nx",
    ]);
    expect(parsed.find((s) => s.name === "demo_latency_seconds_count" && !s.labels.kind)?.value).toBe(4);
  });

  it.each<[string, MetricFamily[]]>([
    ["a bad metric name", [{ name: "bad-name", help: "h", type: "gauge", samples: [] }]],
    ["a bad label name", [{ name: "ok", help: "h", type: "gauge", samples: [{ labels: { "a-b": "x" }, value: 1 }] }]],
    [
      "a reserved label name",
      [{ name: "ok", help: "h", type: "gauge", samples: [{ labels: { __x: "x" }, value: 1 }] }],
    ],
    [
      "a duplicate series",
      [
        {
          name: "ok",
          help: "h",
          type: "gauge",
          samples: [
            { labels: { a: "1" }, value: 1 },
            { labels: { a: "1" }, value: 2 },
          ],
        },
      ],
    ],
    [
      "a family twice",
      [
        { name: "ok", help: "h", type: "gauge", samples: [] },
        { name: "ok", help: "h", type: "gauge", samples: [] },
      ],
    ],
    [
      "non-cumulative buckets",
      [
        {
          name: "h",
          help: "h",
          type: "histogram",
          series: [
            {
              labels: {},
              buckets: [
                { le: 1, count: 2 },
                { le: 2, count: 1 },
              ],
              sum: 1,
              count: 2,
            },
          ],
        },
      ],
    ],
  ])("refuses %s", (_, families) => {
    expect(() => renderExposition(families)).toThrow();
  });
});

describe("sumSamples", () => {
  it("sums rows with equal label sets (in any key order) and sorts the result", () => {
    expect(
      sumSamples([
        { labels: { trigger: "b", status: "ok" }, value: 1 },
        { labels: { trigger: "a", status: "ok" }, value: 2 },
        { labels: { status: "ok", trigger: "b" }, value: 3 },
      ]),
    ).toEqual([
      { labels: { trigger: "a", status: "ok" }, value: 2 },
      { labels: { trigger: "b", status: "ok" }, value: 4 },
    ]);
  });
});

describe("parseExposition (the test grammar itself)", () => {
  it.each([
    ["a sample before its TYPE", "x 1\n"],
    ["an unescaped quote", '# TYPE x gauge\nx{a="b"c"} 1\n'],
    ["a raw newline in a label value", '# TYPE x gauge\nx{a="b\nc"} 1\n'],
    ["a missing trailing newline", "# TYPE x gauge\nx 1"],
    ["a bad value", "# TYPE x gauge\nx one\n"],
  ])("rejects %s", (_, text) => {
    expect(() => parseExposition(text)).toThrow();
  });
});
