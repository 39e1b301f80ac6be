//! Every registered provider's verifier and normaliser, on arbitrary requests (the input names
//! the channel and provider).
#![no_main]

use gateway_tests::fuzzing::{Target, run};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run(Target::Providers, data);
});
