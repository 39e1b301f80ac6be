//! The chat channel's providers: verifier and normaliser on arbitrary requests.
#![no_main]

use gateway_shared::schema::Channel;
use gateway_tests::fuzzing::{Target, run};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run(Target::Family(Channel::Chat), data);
});
