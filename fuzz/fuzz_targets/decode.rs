//! The Lambda event decoding and the whole pipeline, on arbitrary HTTP API events.
#![no_main]

use gateway_tests::fuzzing::{Target, run};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run(Target::Decode, data);
});
