#![no_main]

// The checkpoint reader, seeded with safetensors files only, so that mutations explore its
// header parsing rather than the other formats.
libfuzzer_sys::fuzz_target!(|data: &[u8]| convscope_fuzz::checkpoint(data));
