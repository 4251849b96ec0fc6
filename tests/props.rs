//! Property tests: the firmware parsers never panic and round-trip; the classic-form
//! normaliser never panics, and maps every spelling of a valid classic command to the same
//! modern one; fault specifications round-trip.

use mtkflash::cli::legacy;
use mtkflash::firmware::{self, parse_btc_hex, parse_intel_hex, to_btc_hex, to_intel_hex};
use mtkflash::sim::fault::Faults;
use proptest::prelude::*;

fn sparse_image() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![0x20000usize, 0x40000]),
        proptest::collection::vec((0usize..0x40000, any::<u8>()), 1..60),
    )
        .prop_map(|(size, pokes)| {
            let mut v = vec![0xFFu8; size];
            for (a, b) in pokes {
                v[a % size] = b;
            }
            v[size - 1] = 0x00; // the image reaches its end
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = firmware::parse(&bytes);
    }

    #[test]
    fn hex_like_text_never_panics(lines in proptest::collection::vec("[:0-9A-Fa-f]{0,48}", 0..40)) {
        let text = lines.join("\n");
        let _ = parse_intel_hex(&text);
        let _ = parse_btc_hex(&text);
        let _ = firmware::parse(text.as_bytes());
    }

    #[test]
    fn intel_hex_round_trips(img in sparse_image()) {
        prop_assert_eq!(parse_intel_hex(&to_intel_hex(&img)).unwrap(), img);
    }

    #[test]
    fn btc_hex_round_trips(img in sparse_image()) {
        prop_assert_eq!(parse_btc_hex(&to_btc_hex(&img)).unwrap(), img);
    }

    #[test]
    fn a_flipped_hex_digit_is_caught(img in sparse_image(), line in 0usize..50, col in 1usize..40) {
        let text = to_intel_hex(&img);
        let lines: Vec<&str> = text.lines().collect();
        let l = line % lines.len();
        let mut bytes = lines[l].as_bytes().to_vec();
        let c = 1 + (col % (bytes.len() - 1));
        bytes[c] = if bytes[c] == b'0' { b'1' } else { b'0' };
        let mut changed: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        changed[l] = String::from_utf8(bytes).unwrap();
        // Either the checksum catches it, or (for a flip inside the length/type fields) the
        // record is malformed: never the same image silently.
        match parse_intel_hex(&changed.join("\n")) {
            Err(_) => {}
            Ok(other) => prop_assert_ne!(other, img),
        }
    }

    #[test]
    fn normaliser_never_panics(words in proptest::collection::vec("[ -~]{0,12}", 0..8)) {
        if legacy::is_legacy(&words) {
            let _ = legacy::normalise(&words);
        }
    }

    #[test]
    fn every_spelling_of_a_classic_write_means_the_same(
        port in prop::sample::select(vec!["1", "2", "3", "4", "sim", "sim:d.mtksim", "0x970:master"]),
        upper in any::<bool>(),
        boot in any::<bool>(),
        m in any::<bool>(),
        glued in any::<bool>(),
        after in any::<bool>(),
    ) {
        let case = |s: &str| if upper { s.to_uppercase() } else { s.to_string() };
        let mut switches = Vec::new();
        if m { switches.push(case("/m")); }
        if boot { switches.push(case("/b")); }
        let mut argv = vec![port.to_string()];
        if glued && !switches.is_empty() {
            argv.push(format!("{}{}", case("w"), switches.concat()));
            argv.push("fw.bin".into());
        } else if after {
            argv.push(case("w"));
            argv.push("fw.bin".into());
            argv.extend(switches.clone());
        } else {
            argv.push(case("w"));
            argv.extend(switches.clone());
            argv.push("fw.bin".into());
        }
        prop_assert!(legacy::is_legacy(&argv), "{:?}", argv);
        let mut want = vec!["write".to_string(), port.to_string(), "fw.bin".to_string()];
        if boot { want.push("--boot".into()); }
        if m { want.push("--classic-m".into()); }
        prop_assert_eq!(legacy::normalise(&argv).unwrap(), want);
    }

    #[test]
    fn fault_specs_round_trip(op in 1u64..1_000_000_000, addr in 0u32..0x200000, sector in 0u32..512, ms in 0u64..100_000, seed in any::<u64>()) {
        let spec = format!("power-loss@op={op};program-fail@addr=0x{addr:X};erase-fail@sector={sector};intro-window={ms};read-flip@rate=0.25,seed={seed}");
        let f = Faults::parse(&spec).unwrap();
        prop_assert_eq!(Faults::parse(&f.to_string()).unwrap(), f);
    }

    #[test]
    fn fault_parser_never_panics(s in "[ -~]{0,60}") {
        let _ = Faults::parse(&s);
    }
}
