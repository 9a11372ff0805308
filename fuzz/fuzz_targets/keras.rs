#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| convscope_fuzz::keras(data));
