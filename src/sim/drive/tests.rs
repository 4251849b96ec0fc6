//! The virtual drive's own tests.

use super::*;
use crate::chips::by_name;
use crate::firmware::synth;

pub(crate) fn btc_drive(rev: &str) -> Drive {
    let img = synth::generate(&synth::Spec::btc(rev));
    let crc = boot_crc(&img);
    let s = Settings {
        vendor: "BTC".into(),
        product: "DVDRW IDE1008".into(),
        revision: rev.into(),
    };
    Drive::new(Flash::new(by_name("SST39VF080").unwrap(), img), s, crc)
}

#[test]
fn inquiry_comes_from_the_firmware_template() {
    let mut d = btc_drive("0758");
    assert_eq!(d.mode, Mode::Normal);
    let r = d.packet(&[0x12, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0], &[], 0);
    assert_eq!(r.check, None);
    assert_eq!(r.data_in.len(), 36);
    assert_eq!(&r.data_in[8..36], b"BTC     DVDRW IDE1008   0758");
    assert_eq!(r.data_in[0], 0x05);
}

#[test]
fn unknown_opcode_is_5_20_00_and_request_sense_reports_then_clears_it() {
    let mut d = btc_drive("0055");
    let r = d.packet(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[], 0);
    assert_eq!(r.check, Some(INVALID_OPCODE));
    let s = d.packet(&[0x03, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0], &[], 0);
    assert_eq!(
        (s.data_in[0], s.data_in[2], s.data_in[12], s.data_in[13]),
        (0x70, 5, 0x20, 0)
    );
    let s2 = d.packet(&[0x03, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0], &[], 0);
    assert_eq!(s2.data_in[2], 0);
    let t = d.packet(&[0x00; 12], &[], 0);
    assert_eq!(t.check, Some(MEDIUM_NOT_PRESENT));
}

#[test]
fn bad_firmware_boots_to_boot_code_only_and_bad_boot_code_is_dead() {
    let mut d = btc_drive("0055");
    d.flash.mem_mut()[0x70000] = 0xFF; // bank 7 loses its LJMP
    d.boot();
    assert_eq!(d.mode, Mode::BootOnly);
    d.flash.mem_mut()[0x70000] = 0x02;
    d.flash.mem_mut()[0x71234] ^= 0x10; // checksum now wrong
    d.boot();
    assert_eq!(d.mode, Mode::BootOnly);
    d.flash.mem_mut()[0x71234] ^= 0x10;
    d.boot();
    assert_eq!(d.mode, Mode::Normal);
    d.flash.mem_mut()[0x1000..0x2000].fill(0xFF); // boot block half erased
    d.boot();
    assert_eq!(d.mode, Mode::Dead);
}

#[test]
fn a_new_valid_image_with_new_boot_code_boots_and_becomes_known_good() {
    let mut d = btc_drive("0055");
    let mut other = synth::generate(&synth::Spec {
        product: "OTHER".into(),
        ..synth::Spec::btc("0100")
    });
    crate::inference::seal_embedded_checksum(&mut other);
    *d.flash.mem_mut() = other.clone();
    d.boot();
    assert_eq!(d.mode, Mode::Normal);
    assert_eq!(d.good_boot_crc, boot_crc(&other));
    // Now the firmware breaks but the (new) boot code is known: boot code only.
    d.flash.mem_mut()[0x90000] = 0x00;
    d.boot();
    assert_eq!(d.mode, Mode::BootOnly);
}

#[test]
fn identify_packet_strings_are_byte_swapped_words() {
    let d = btc_drive("0758");
    let w = d.identify_packet();
    assert_eq!(w[0], 0x85C0);
    let model: Vec<u8> = w[27..47].iter().flat_map(|x| x.to_be_bytes()).collect();
    assert!(String::from_utf8_lossy(&model).starts_with("BTC DVDRW IDE1008"));
    let rev: Vec<u8> = w[23..27].iter().flat_map(|x| x.to_be_bytes()).collect();
    assert!(String::from_utf8_lossy(&rev).starts_with("0758"));
}
