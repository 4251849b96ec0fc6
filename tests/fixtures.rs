//! fixtures/ is exactly what the documented generator makes, and each file is what its
//! name says.

use mtkflash::firmware::{self, synth, Analysis, Format};
use std::path::Path;

fn path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

#[test]
fn fixtures_match_the_generator() {
    for (name, bytes) in synth::fixtures() {
        let on_disk = std::fs::read(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            on_disk == bytes,
            "fixtures/{name} differs from the generator: run `cargo run --example make_fixtures`"
        );
    }
}

#[test]
fn good_fixtures_parse_to_their_identity() {
    let bin = firmware::load(&path("btc-ide1008-0758.bin")).unwrap();
    let hex = firmware::load(&path("btc-ide1008-0758.hex")).unwrap();
    assert_eq!((bin.format, hex.format), (Format::Bin, Format::BtcHex));
    assert_eq!(bin.data, hex.data);
    let id = Analysis::of(&bin.data).identity.unwrap();
    assert_eq!(id.revision, "0758");
    assert_eq!(&bin.data[0x40BC..0x40C4], b"BTC     ");
    assert_eq!(&bin.data[0x40C4..0x40D4], b"DVDRW IDE1008   ");
    assert_eq!(&bin.data[0x40D4..0x40D8], b"0758");
    let combo = firmware::load(&path("liteon-combo-nk0d-512k.hex")).unwrap();
    assert_eq!(
        (combo.format, combo.data.len()),
        (Format::IntelHex, 0x80000)
    );
    assert!(Analysis::of(&combo.data).bootable());
}

#[test]
fn broken_fixtures_are_refused_for_their_reason() {
    let e = firmware::load(&path("broken-truncated.bin")).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    let e = firmware::load(&path("broken-wrong-size.bin")).unwrap_err();
    assert!(e.to_string().contains("not a firmware size"), "{e}");
    let e = firmware::load(&path("broken-bad-checksum.hex")).unwrap_err();
    assert!(
        e.to_string().contains("line 11") && e.to_string().contains("checksum"),
        "{e}"
    );
    let e = firmware::load(&path("broken-truncated.hex")).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn liteon_layout_and_older_inquiry_templates_are_recognised() {
    let lo = firmware::load(&path("liteon-sohw1673s-js0c-liteon-layout.bin")).unwrap();
    let a = Analysis::of(&lo.data);
    assert_eq!(a.layout, firmware::Layout::LiteOn);
    assert!(
        a.bad_banks().is_empty(),
        "64 KiB boundaries fall inside code"
    );
    assert!(a.bootable());
    assert_eq!(a.identity.as_ref().unwrap().revision, "JS0C");
    assert_eq!(&lo.data[0x40B4..0x40B9], &[0x05, 0x80, 0x00, 0x31, 0x1F]);
    let old = firmware::load(&path("liteon-ldw811s-hs0r-template-32-1f.bin")).unwrap();
    let b = Analysis::of(&old.data);
    assert_eq!(b.layout, firmware::Layout::Banked);
    assert_eq!(b.identity.unwrap().product, "DVDRW LDW-811S");
    // Without the marks the same image is neither layout, and is refused.
    let mut broken = lo.data.clone();
    broken[0xFFF8..0x10000].copy_from_slice(b"LITEONXX");
    assert_eq!(firmware::layout_of(&broken), firmware::Layout::Unknown);
    assert!(!Analysis::of(&broken).bad_banks().is_empty());
}

#[test]
fn later_family_fixtures_are_what_their_names_say() {
    use mtkflash::firmware::family::{self as fam, Family};
    let wh = firmware::load(&path("mt1959-wh16ns60-103.bin")).unwrap();
    assert_eq!(fam::family_of_image(&wh.data, None), Some(Family::Mt1959));
    assert_eq!(
        fam::identity_of(&wh.data),
        Some(("HL-DT-ST".into(), "BD-RE WH16NS60".into(), "1.03".into()))
    );
    assert_eq!(
        fam::boot_config_id(&wh.data).as_deref(),
        Some("MT1959 Boot JB8 ")
    );
    let bu = firmware::load(&path("mt1959-bu40n-100.bin")).unwrap();
    assert_eq!(
        fam::boot_config_id(&bu.data).as_deref(),
        Some("MT1959 Boot BU5 ")
    );
    let ts = firmware::load(&path("mt1339-sh-d162d-bc07.bin")).unwrap();
    assert_eq!(ts.data.len(), fam::MT1339_LEN);
    assert_eq!(fam::family_of_image(&ts.data, None), Some(Family::Mt1339));
}
