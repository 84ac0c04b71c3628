//! Parser error texts, byte for byte as robfig/cron v3.0.1 `ParseStandard`
//! (with Go's strconv/time texts inside) produces them; Kubernetes puts them
//! in the validation error detail (C-2). Rules C-10…C-13.

use kbatch_schedule::parse;

fn err(spec: &str) -> String {
    match parse(spec) {
        Ok(s) => panic!("{spec:?} parsed: {s:?}"),
        Err(e) => e.to_string(),
    }
}

macro_rules! error_cases {
    ($($name:ident: $spec:expr => $text:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_eq!(err($spec), $text);
        }
    )*};
}

error_cases! {
    // C-10: field count and the empty string.
    empty: "" => "empty spec string";
    only_spaces: "   " => "expected exactly 5 fields, found 0: []";
    four_fields: "* * * *" => "expected exactly 5 fields, found 4: [* * * *]";
    six_fields: "0 0 * * * *" => "expected exactly 5 fields, found 6: [0 0 * * * *]";
    seven_fields: "1 2 3 4 5 6 7" => "expected exactly 5 fields, found 7: [1 2 3 4 5 6 7]";
    one_field: "*" => "expected exactly 5 fields, found 1: [*]";
    fields_joined_by_single_space: "a\t\tb  c" => "expected exactly 5 fields, found 3: [a b c]";
    leading_space_descriptor_is_a_field: " @daily" => "expected exactly 5 fields, found 1: [@daily]";
    // C-11: bounds, in the library's check order.
    minute_60: "60 * * * *" => "end of range (60) above maximum (59): 60";
    hour_24: "* 24 * * *" => "end of range (24) above maximum (23): 24";
    dom_0: "* * 0 * *" => "beginning of range (0) below minimum (1): 0";
    dom_32: "* * 32 * *" => "end of range (32) above maximum (31): 32";
    month_0: "* * * 0 *" => "beginning of range (0) below minimum (1): 0";
    month_13: "* * * 13 *" => "end of range (13) above maximum (12): 13";
    dow_7_is_not_sunday: "* * * * 7" => "end of range (7) above maximum (6): 7";
    dow_range_to_7: "* * * * 0-7" => "end of range (7) above maximum (6): 0-7";
    dow_range_5_7: "0 0 * * 5-7" => "end of range (7) above maximum (6): 5-7";
    range_end_60: "1-60 * * * *" => "end of range (60) above maximum (59): 1-60";
    range_backwards: "5-1 * * * *" => "beginning of range (5) beyond end of range (1): 5-1";
    start_past_max_with_step: "60/5 * * * *" => "beginning of range (60) beyond end of range (59): 60/5";
    dom_zero_with_step: "* * 0/5 * *" => "beginning of range (0) below minimum (1): 0/5";
    below_min_reported_before_above_max: "* * 0-32 * *" => "beginning of range (0) below minimum (1): 0-32";
    plus_sign_out_of_range: "+60 * * * *" => "end of range (60) above maximum (59): +60";
    huge_in_range: "9223372036854775807 * * * *" => "end of range (9223372036854775807) above maximum (59): 9223372036854775807";
    names_backwards_dow: "* * * * mon-sun" => "beginning of range (1) beyond end of range (0): mon-sun";
    names_backwards_month: "* * * dec-jan *" => "beginning of range (12) beyond end of range (1): dec-jan";
    error_in_second_list_item: "1,60 * * * *" => "end of range (60) above maximum (59): 60";
    first_failing_field_wins: "60 24 * * *" => "end of range (60) above maximum (59): 60";
    // C-11: steps.
    step_zero: "*/0 * * * *" => "step of range should be a positive number: */0";
    step_zero_on_number: "5/0 * * * *" => "step of range should be a positive number: 5/0";
    step_zero_with_ignored_star_tail: "*-5/0 * * * *" => "step of range should be a positive number: *-5/0";
    step_negative: "*/-1 * * * *" => "negative number (-1) not allowed: -1";
    step_min_int: "*/-9223372036854775808 * * * *" => "negative number (-9223372036854775808) not allowed: -9223372036854775808";
    step_minus_zero_is_zero: "*/-0 * * * *" => "step of range should be a positive number: */-0";
    step_not_a_number: "*/x * * * *" => "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax";
    step_empty: "*/ * * * *" => "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax";
    range_step_not_a_number: "1-2/x * * * *" => "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax";
    bounds_checked_after_step_parse: "70/x * * * *" => "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax";
    // C-11: too many separators, reported after the start parses.
    too_many_hyphens: "1-2-3 * * * *" => "too many hyphens: 1-2-3";
    too_many_hyphens_before_end_parse: "1-x-y * * * *" => "too many hyphens: 1-x-y";
    bad_start_before_hyphens: "x-1-2 * * * *" => "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax";
    too_many_slashes: "1/2/3 * * * *" => "too many slashes: 1/2/3";
    too_many_slashes_on_star: "*/1/2 * * * *" => "too many slashes: */1/2";
    bad_start_before_slashes: "a/b/c * * * *" => "failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax";
    hyphens_before_slashes: "1-2-3/4/5 * * * *" => "too many hyphens: 1-2-3/4/5";
    // C-11: numbers as strconv.Atoi sees them.
    not_a_number: "x * * * *" => "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax";
    negative_number_is_empty_start: "-5 * * * *" => "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax";
    open_range: "1- * * * *" => "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax";
    empty_start_with_step: "/5 * * * *" => "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax";
    lone_plus: "+ * * * *" => "failed to parse int from +: strconv.Atoi: parsing \"+\": invalid syntax";
    hex: "0x10 * * * *" => "failed to parse int from 0x10: strconv.Atoi: parsing \"0x10\": invalid syntax";
    exponent: "1e1 * * * *" => "failed to parse int from 1e1: strconv.Atoi: parsing \"1e1\": invalid syntax";
    underscore: "1_0 * * * *" => "failed to parse int from 1_0: strconv.Atoi: parsing \"1_0\": invalid syntax";
    decimal: "1.5 * * * *" => "failed to parse int from 1.5: strconv.Atoi: parsing \"1.5\": invalid syntax";
    out_of_int_range: "99999999999999999999 * * * *" => "failed to parse int from 99999999999999999999: strconv.Atoi: parsing \"99999999999999999999\": value out of range";
    long_with_letter_is_syntax: "999999999999999999x * * * *" => "failed to parse int from 999999999999999999x: strconv.Atoi: parsing \"999999999999999999x\": invalid syntax";
    long_overflow_before_letter: "99999999999999999999x * * * *" => "failed to parse int from 99999999999999999999x: strconv.Atoi: parsing \"99999999999999999999x\": value out of range";
    quote_in_field: "\"1 * * * *" => "failed to parse int from \"1: strconv.Atoi: parsing \"\\\"1\": invalid syntax";
    control_char_quoted: "1\u{1} * * * *" => "failed to parse int from 1\u{1}: strconv.Atoi: parsing \"1\\x01\": invalid syntax";
    zero_width_space_quoted: "1\u{200b} * * * *" => "failed to parse int from 1\u{200b}: strconv.Atoi: parsing \"1\\u200b\": invalid syntax";
    printable_unicode_verbatim: "é * * * *" => "failed to parse int from é: strconv.Atoi: parsing \"é\": invalid syntax";
    astral_private_use_quoted: "\u{f0000} * * * *" => "failed to parse int from \u{f0000}: strconv.Atoi: parsing \"\\U000f0000\": invalid syntax";
    // C-12: names only where the field has them, three letters only.
    minute_has_no_names: "mon * * * *" => "failed to parse int from mon: strconv.Atoi: parsing \"mon\": invalid syntax";
    dom_has_no_names: "* * jan * *" => "failed to parse int from jan: strconv.Atoi: parsing \"jan\": invalid syntax";
    long_day_name: "* * * * sunday" => "failed to parse int from sunday: strconv.Atoi: parsing \"sunday\": invalid syntax";
    long_month_name: "* * * january *" => "failed to parse int from january: strconv.Atoi: parsing \"january\": invalid syntax";
    bad_range_end_name: "* * * jan-foo *" => "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid syntax";
    month_name_in_dow: "* * * * jan" => "failed to parse int from jan: strconv.Atoi: parsing \"jan\": invalid syntax";
    negative_dow: "* * * * -1" => "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax";
    // C-13: descriptors are exact and case-sensitive.
    unknown_descriptor: "@foo" => "unrecognized descriptor: @foo";
    descriptor_case: "@Daily" => "unrecognized descriptor: @Daily";
    descriptor_trailing_space: "@daily " => "unrecognized descriptor: @daily ";
    descriptor_with_fields: "@daily * * * * *" => "unrecognized descriptor: @daily * * * * *";
    every_without_space: "@every" => "unrecognized descriptor: @every";
    every_tab: "@every\t1h" => "unrecognized descriptor: @every\t1h";
    lone_at: "@" => "unrecognized descriptor: @";
    reboot: "@reboot" => "unrecognized descriptor: @reboot";
    every_empty: "@every " => "failed to parse duration @every : time: invalid duration \"\"";
    every_two_spaces: "@every  1h" => "failed to parse duration @every  1h: time: invalid duration \" 1h\"";
    every_days: "@every 1d" => "failed to parse duration @every 1d: time: unknown unit \"d\" in duration \"1d\"";
    every_no_unit: "@every 10" => "failed to parse duration @every 10: time: missing unit in duration \"10\"";
    every_word: "@every hour" => "failed to parse duration @every hour: time: invalid duration \"hour\"";
    every_spaced_units: "@every 1h 30m" => "failed to parse duration @every 1h 30m: time: unknown unit \"h \" in duration \"1h 30m\"";
    every_trailing_space: "@every 1h " => "failed to parse duration @every 1h : time: unknown unit \"h \" in duration \"1h \"";
    every_dot_only: "@every .s" => "failed to parse duration @every .s: time: invalid duration \".s\"";
    every_overflow: "@every 9223372036854775808ns" => "failed to parse duration @every 9223372036854775808ns: time: invalid duration \"9223372036854775808ns\"";
    every_hours_overflow: "@every 2562048h" => "failed to parse duration @every 2562048h: time: invalid duration \"2562048h\"";
    every_non_ascii_unit: "@every 1ч" => "failed to parse duration @every 1ч: time: unknown unit \"\\xd1\\x87\" in duration \"1\\xd1\\x87\"";
    every_uppercase_unit: "@every 1H" => "failed to parse duration @every 1H: time: unknown unit \"H\" in duration \"1H\"";
    // C-8/C-16: TZ= and CRON_TZ= prefixes as the parser reads them.
    tz_unknown: "TZ=Mars/Base * * * * *" => "provided bad location Mars/Base: unknown time zone Mars/Base";
    cron_tz_unknown: "CRON_TZ=Nowhere 0 0 * * *" => "provided bad location Nowhere: unknown time zone Nowhere";
    tz_wrong_case: "TZ=europe/berlin * * * * *" => "provided bad location europe/berlin: unknown time zone europe/berlin";
    tz_dot_dot: "TZ=../zoneinfo * * * * *" => "provided bad location ../zoneinfo: time: invalid location name";
    tz_absolute_path: "TZ=/etc/localtime * * * * *" => "provided bad location /etc/localtime: time: invalid location name";
    tz_without_space_panics_in_go: "TZ=UTC" => "runtime error: slice bounds out of range [:-1]";
    cron_tz_without_space_panics_in_go: "CRON_TZ=Europe/Berlin" => "runtime error: slice bounds out of range [:-1]";
    tz_then_bad_fields: "TZ=UTC * * *" => "expected exactly 5 fields, found 3: [* * *]";
    tz_then_nothing: "TZ=UTC " => "expected exactly 5 fields, found 0: []";
    tz_then_bad_descriptor: "TZ=UTC @often" => "unrecognized descriptor: @often";
    tz_name_ends_at_space_not_tab: "TZ=UTC\t* * * * *" => "provided bad location UTC\t*: unknown time zone UTC\t*";
    lowercase_tz_is_no_prefix: "tz=UTC * * * * *" => "expected exactly 5 fields, found 6: [tz=UTC * * * * *]";
}
