#![no_main]
//! Any argument list through the classic-form normaliser: never a panic, and a
//! normalised command always starts with read or write.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let argv: Vec<String> = text.split(|c: char| c == '\0' || c.is_whitespace()).filter(|s| !s.is_empty()).map(String::from).collect();
    if mtkflash::cli::legacy::is_legacy(&argv) {
        if let Ok(v) = mtkflash::cli::legacy::normalise(&argv) {
            assert!(v[0] == "read" || v[0] == "write");
        }
    }
});
