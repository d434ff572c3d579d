/**
 * CEL conformance (cel-spec `tests/simple`, data from `@bufbuild/cel-spec`) through our wrapper:
 * `compileCel` then `evaluateCel`, results compared as plain JSON (see test/support/cel-conformance.ts
 * for the conversion and the skip rules). In the sections that matter for predicates and flow-control
 * keys, every test that runs must pass except the known failures below, all of them gaps in
 * `@marcbachmann/cel-js` 8.0.0. A library upgrade that breaks a passing test fails here; one that fixes
 * a known failure fails too, asking for the entry to be removed.
 *
 * `npm run bench:cel` prints the same tallies for every section and for `@bufbuild/cel`.
 */
import { describe, expect, it } from "vitest";
import { compileCel, evaluateCel } from "../../../src/lib/cel";
import {
  type CelOutcome,
  caseKey,
  conformanceCases,
  formatTallies,
  PREDICATE_SECTIONS,
  runCase,
  runConformance,
} from "../../support/cel-conformance";

/** `section/group/name` of tests that fail with @marcbachmann/cel-js 8.0.0, grouped by cause. */
const KNOWN_FAILURES = new Set<string>([
  // Bytes literals: a non-ASCII character is stored as one Latin-1 byte instead of its UTF-8 bytes.
  "basic/self_eval_nonzeroish/self_eval_bytes_escape",
  "comparisons/eq_literal/eq_bytes",
  "comparisons/ne_literal/not_ne_bytes",
  // Raw bytes literals (br'…', bR"…") do not parse.
  "parse/bytes_literals/raw_single_quoted_escapes",
  "parse/bytes_literals/raw_double_quoted_escapes",
  "parse/bytes_literals/raw_triple_single_quoted_escapes",
  "parse/bytes_literals/raw_triple_double_quoted_escapes",
  "parse/bytes_literals/upper_raw_single_quoted_escapes",
  "parse/bytes_literals/upper_raw_double_quoted_escapes",
  "parse/bytes_literals/upper_raw_triple_single_quoted_escapes",
  "parse/bytes_literals/upper_raw_triple_double_quoted_escapes",
  // No ordering operators on bytes.
  "comparisons/lt_literal/lt_bytes",
  "comparisons/lt_literal/not_lt_bytes_same",
  "comparisons/lt_literal/not_lt_bytes_width",
  "comparisons/gt_literal/gt_bytes_one",
  "comparisons/gt_literal/gt_bytes_one_to_empty",
  "comparisons/gt_literal/not_gt_bytes_sorting",
  "comparisons/lte_literal/lte_bytes_empty",
  "comparisons/lte_literal/not_lte_bytes_length",
  "comparisons/gte_literal/gte_bytes_to_empty",
  "comparisons/gte_literal/not_gte_bytes_empty_to_nonempty",
  "comparisons/gte_literal/gte_bytes_samelength",
  // Heterogeneous numeric equality involving uint (int/double mixes work: JSON numbers are safe).
  "comparisons/eq_literal/eq_list_mixed_type_numbers",
  "comparisons/eq_literal/eq_map_mixed_type_numbers",
  "lists/in/uint_in_ints",
  "lists/in/uint_in_doubles",
  "lists/in/int_in_uints",
  "lists/in/double_in_uints",
  "lists/index/zero_based_uint",
  // int ↔ double ordering near 2^63 is compared lossily.
  "comparisons/lt_literal/not_lt_dyn_int_big_lossy_double",
  "comparisons/gt_literal/not_gt_dyn_big_double_int",
  "comparisons/lte_literal/lte_dyn_big_double_int",
  "comparisons/gte_literal/gte_dyn_int_big_lossy_double",
  // A double literal without a leading digit (`.99`) does not parse.
  "comparisons/gt_literal/not_gt_double",
  // Missing conversions: int(uint), int(timestamp), string(timestamp|duration), identity conversions.
  "conversions/int/uint",
  "conversions/int/uint_zero",
  "conversions/int/uint_max_exact",
  "parse/nest/funcall",
  "conversions/int/timestamp",
  "timestamps/timestamp_conversions/toInt_timestamp",
  "timestamps/timestamp_conversions/toString_timestamp",
  "timestamps/timestamp_conversions/toString_timestamp_nanos",
  "timestamps/duration_conversions/toString_duration",
  "conversions/identity/duration",
  "conversions/identity/timestamp",
  // Range errors not raised: double → int/uint out of range, int64 negation/division overflow.
  "conversions/int/double_int_max_range",
  "conversions/int/double_int_min_range",
  "conversions/int/double_range",
  "conversions/uint/double_uint_max_range",
  "integer_math/int64_math/int64_min_negate",
  "integer_math/int64_math/int64_min_negate_div",
  // Invalid UTF-8 in string(bytes) is replaced instead of being an error.
  "conversions/string/bytes_invalid",
  // The library names the null type "null", not "null_type".
  "conversions/type/null_type",
  "conversions/type/null_type_denotation",
  // has() on a map literal (has(event.payload.x) on data works).
  "fields/map_has/has",
  "fields/map_has/has_not",
  "fields/map_has/has_empty",
  // Backquoted field names (`.`content-type``) are not supported.
  "fields/quoted_map_fields/field_access_slash",
  "fields/quoted_map_fields/field_access_dash",
  "fields/quoted_map_fields/field_access_dot",
  "fields/quoted_map_fields/has_field_slash",
  "fields/quoted_map_fields/has_field_dash",
  "fields/quoted_map_fields/has_field_dot",
  // Map literals: double/null keys and repeated keys are accepted instead of being errors.
  "fields/qualified_identifier_resolution/map_key_float",
  "fields/qualified_identifier_resolution/map_key_null",
  "fields/qualified_identifier_resolution/map_value_repeat_key",
  "fields/qualified_identifier_resolution/map_value_repeat_key_heterogeneous",
  // Macros: `[].all(e, e > 0)` fails to type-check; exists_one over a map binds values, not keys.
  "macros/all/list_empty",
  "macros/exists_one/map_one",
  // Timestamps: fixed-offset time zones, nanosecond precision (JS Date), range errors.
  "timestamps/timestamp_selectors_tz/getHours",
  "timestamps/timestamp_arithmetic/add_time_to_duration",
  "timestamps/timestamp_arithmetic/add_time_to_duration_nanos_positive",
  "timestamps/timestamp_range/add_duration_under",
  "timestamps/timestamp_range/add_duration_over",
  "timestamps/timestamp_range/add_duration_nanos_over",
  "timestamps/timestamp_range/add_duration_nanos_under",
  "timestamps/timestamp_range/sub_time_duration_over",
  "timestamps/timestamp_range/sub_time_duration_under",
  "timestamps/duration_range/from_string_under",
  "timestamps/duration_range/from_string_over",
  "timestamps/duration_range/add_under",
  "timestamps/duration_range/add_over",
  "timestamps/duration_range/sub_under",
  "timestamps/duration_range/sub_over",
  // Optionals: no optMap/optFlatMap, optional.ofNonZeroValue, optional equality, type(optional),
  // `[?x]` / `{?k: v}` literal entries, has() through optionals, or selection on optional.none().
  "optionals/optionals/null_non_zero_value",
  "optionals/optionals/none_optMap_hasValue",
  "optionals/optionals/empty_map_optFlatMap_hasValue",
  "optionals/optionals/map_empty_submap_optFlatMap_hasValue",
  "optionals/optionals/map_null_entry_no_such_key",
  "optionals/optionals/map_present_key_invalid_field",
  "optionals/optionals/map_undefined_entry_hasValue",
  "optionals/optionals/map_submap_subkey_optFlatMap_value",
  "optionals/optionals/map_submap_optFlatMap_value",
  "optionals/optionals/map_optindex_optFlatMap_optional_ofNonZeroValue_hasValue",
  "optionals/optionals/optional_of_optMap_value",
  "optionals/optionals/optional_ofNonZeroValue_or_optional_value",
  "optionals/optionals/ternary_optional_hasValue",
  "optionals/optionals/has_map_optindex",
  "optionals/optionals/has_map_optindex_field",
  "optionals/optionals/type",
  "optionals/optionals/optional_chaining_1",
  "optionals/optionals/optional_chaining_5",
  "optionals/optionals/optional_chaining_9",
  "optionals/optionals/optional_chaining_12",
  "optionals/optionals/optional_chaining_13",
  "optionals/optionals/optional_chaining_14",
  "optionals/optionals/optional_chaining_15",
  "optionals/optionals/optional_chaining_16",
  "optionals/optionals/optional_none_optselect_hasValue",
  "optionals/optionals/optional_none_optindex_hasValue",
  "optionals/optionals/optional_eq_none_none",
  "optionals/optionals/optional_eq_none_int",
  "optionals/optionals/optional_eq_int_none",
  "optionals/optionals/optional_eq_int_int",
  "optionals/optionals/optional_ne_none_none",
  "optionals/optionals/optional_ne_none_int",
  "optionals/optionals/optional_ne_int_none",
  "optionals/optionals/optional_ne_int_int",
  "optionals/optionals/map_optional_has",
  "optionals/optionals/map_optional_select_has",
  "optionals/optionals/map_optional_entry_has",
]);

/** Our wrapper as a conformance engine: the program runs without `event` (no test reads it). */
function wrapper(expr: string): CelOutcome {
  const compiled = compileCel(expr);
  if (!compiled.ok) return { ok: false, stage: "compile", error: compiled.error };
  const result = evaluateCel(compiled.program, {});
  return result.ok ? result : { ok: false, stage: "eval", error: result.error };
}

const cases = conformanceCases(PREDICATE_SECTIONS);

describe("CEL conformance through compileCel/evaluateCel", () => {
  it("loads every asserted section and lists only tests that exist in them", () => {
    const sections = new Set(cases.map((c) => c.section));
    expect([...sections].sort()).toEqual([...PREDICATE_SECTIONS].sort());
    const keys = new Set(cases.map(caseKey));
    expect([...KNOWN_FAILURES].filter((k) => !keys.has(k))).toEqual([]);
    console.log(
      `CEL conformance, @marcbachmann/cel-js via src/lib/cel.ts\n${formatTallies(runConformance(wrapper, cases))}`,
    );
  });

  it.each(PREDICATE_SECTIONS)("%s: every runnable test passes except the known failures", (section) => {
    const unexpected: string[] = [];
    const fixed: string[] = [];
    let ran = 0;
    for (const c of cases) {
      if (c.section !== section) continue;
      const result = runCase(wrapper, c);
      if (result.status === "skip") continue;
      ran++;
      const key = caseKey(c);
      const known = KNOWN_FAILURES.has(key);
      if (result.status === "fail" && !known)
        unexpected.push(`${key}: ${JSON.stringify(c.test.expr)} → ${result.detail}`);
      if (result.status === "pass" && known) fixed.push(`${key} now passes: remove it from KNOWN_FAILURES`);
    }
    expect(ran).toBeGreaterThan(0);
    expect(unexpected).toEqual([]);
    expect(fixed).toEqual([]);
  });
});
