#![no_main]
//! Any bytes as a firmware file: .bin, Intel HEX or BTC HEX detection and parsing must
//! never panic; a parsed image has a firmware size and survives analysis.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(fw) = mtkflash::firmware::parse(data) {
        assert!(mtkflash::firmware::SIZES.contains(&fw.data.len()));
        let a = mtkflash::firmware::Analysis::of(&fw.data);
        assert_eq!(a.size, fw.data.len());
    }
});
