//! Parser error texts, byte for byte as robfig/cron v3.0.1 `ParseStandard`
//! (with Go's strconv/time texts inside) produces them. Rules C-10…C-13.

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
    six_fields: "0 0 * * * *" => "expected exactly 5 fields, found 6: [0 0 * * * *]";
}
