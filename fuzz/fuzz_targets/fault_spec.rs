#![no_main]
//! Any fault specification: never a panic, and what parses round-trips.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(f) = mtkflash::sim::fault::Faults::parse(&text) {
        assert_eq!(mtkflash::sim::fault::Faults::parse(&f.to_string()).unwrap(), f);
    }
});
