//! Fuzz target `segments`: see `tests/fuzz_model/mod.rs` (`run_segments`) for the operations and the
//! model they are checked against.

#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_model/mod.rs"]
mod fuzz_model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_model::run_segments(data);
});
