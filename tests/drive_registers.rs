//! The virtual drive at register level, driven by the host's own ATA and vendor-mode
//! code: reset signature, IDENTIFY PACKET, PIO PACKET phases and sense, device
//! selection, vendor intro/outro, byte access, the SPI bridge, bricked and dead drives.

use mtkflash::chips::by_name;
use mtkflash::firmware::synth;
use mtkflash::mtk::vendor::{Bridge, FlashKind, Vendor, VendorError};
use mtkflash::sim::{self, Mode, SimChannel};
use mtkflash::transport::ata::{ata_string, Ata, AtaError, Channel, DataDir};
use mtkflash::transport::PortIo;
use std::time::Duration;

fn drive_73(chip: &str) -> Ata<SimChannel> {
    let mut a = drive(chip);
    a.io.drive.serial_intro = 0x73;
    a
}

fn drive(chip: &str) -> Ata<SimChannel> {
    let info = by_name(chip).unwrap();
    let spec = synth::Spec {
        size: info.size as usize,
        ..synth::Spec::btc("0055")
    };
    let sim = sim::channel(info, synth::generate(&spec), sim::btc_settings("0055"));
    Ata::new(sim, Channel::legacy(3).unwrap())
}

const INQUIRY: [u8; 12] = [0x12, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0];

#[test]
fn srst_gives_the_atapi_signature() {
    let mut ata = drive("SST39VF080");
    ata.soft_reset().unwrap();
    let sig = ata.signature();
    assert_eq!(sig, [0x01, 0x01, 0x14, 0xEB]);
    assert!(Ata::<SimChannel>::is_atapi_signature(sig));
}

#[test]
fn device_is_busy_right_after_a_command_then_ready() {
    let mut ata = drive("SST39VF080");
    ata.select().unwrap();
    ata.io.outb(0x177, 0xA1);
    assert_eq!(ata.status() & 0x80, 0x80, "BSY right after the command");
    let s = ata.wait_not_busy(Duration::from_secs(1), "test").unwrap();
    assert_eq!(s & 0x08, 0x08, "DRQ for the IDENTIFY data");
}

#[test]
fn identify_packet_device() {
    let mut ata = drive("SST39VF080");
    let w = ata.identify_packet().unwrap();
    assert_eq!(w[0], 0x85C0);
    assert_eq!(w[0] & 0x3, 0, "12-byte packets");
    assert_eq!(ata_string(&w[27..47]), "BTC DVDRW IDE1008");
    assert_eq!(ata_string(&w[23..27]), "0055");
    // IDENTIFY DEVICE (0xEC) is aborted by a packet device.
    ata.select().unwrap();
    ata.io.outb(0x177, 0xEC);
    let s = ata.wait_not_busy(Duration::from_secs(1), "test").unwrap();
    assert_eq!(s & 0x01, 0x01);
    assert_eq!(ata.io.inb(0x171), 0x04, "ABRT");
}

#[test]
fn inquiry_over_pio_packet() {
    let mut ata = drive("SST39VF080");
    let mut buf = Vec::new();
    let out = ata
        .packet(&INQUIRY, DataDir::In(36), &mut buf, Duration::from_secs(5))
        .unwrap();
    assert!(!out.check_condition());
    assert_eq!(out.status, 0x50);
    assert_eq!(ata.io.inb(0x172) & 3, 3, "completion: IO and CoD");
    assert_eq!(&buf[8..36], b"BTC     DVDRW IDE1008   0055");
}

#[test]
fn data_phase_is_split_by_the_byte_count_limit() {
    let mut ata = drive("SST39VF080");
    ata.byte_limit = 10;
    let mut buf = Vec::new();
    let out = ata
        .packet(&INQUIRY, DataDir::In(36), &mut buf, Duration::from_secs(5))
        .unwrap();
    assert_eq!(out.transferred, 36);
    assert_eq!(&buf[8..16], b"BTC     ");
    // Check the block sizes by hand: 10, 10, 10, 6.
    ata.select().unwrap();
    ata.io.outb(0x171, 0);
    ata.io.outb(0x174, 10);
    ata.io.outb(0x175, 0);
    ata.io.outb(0x177, 0xA0);
    ata.wait_not_busy(Duration::from_secs(1), "t").unwrap();
    assert_eq!(ata.io.inb(0x172) & 3, 1, "CoD: wants the CDB");
    for c in INQUIRY.chunks(2) {
        ata.io.outw(0x170, u16::from_le_bytes([c[0], c[1]]));
    }
    let mut blocks = Vec::new();
    loop {
        let s = ata.wait_not_busy(Duration::from_secs(1), "t").unwrap();
        if s & 0x08 == 0 {
            break;
        }
        assert_eq!(ata.io.inb(0x172) & 3, 2, "IO: data in");
        let n = ata.io.inb(0x174) as usize | (ata.io.inb(0x175) as usize) << 8;
        blocks.push(n);
        for _ in 0..n.div_ceil(2) {
            ata.io.inw(0x170);
        }
    }
    assert_eq!(blocks, [10, 10, 10, 6]);
}

#[test]
fn unknown_opcode_is_check_condition_5_20_00() {
    let mut ata = drive("SST39VF080");
    let mut buf = Vec::new();
    let cdb = [0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let out = ata
        .packet(&cdb, DataDir::None, &mut buf, Duration::from_secs(5))
        .unwrap();
    assert!(out.check_condition());
    assert_eq!(out.status, 0x51);
    assert_eq!(out.sense_key(), 5);
    assert_eq!(ata.request_sense().unwrap(), (5, 0x20, 0));
    let tur = [0u8; 12];
    let out = ata
        .packet(&tur, DataDir::None, &mut buf, Duration::from_secs(5))
        .unwrap();
    assert_eq!(out.sense_key(), 2);
    assert_eq!(ata.request_sense().unwrap(), (2, 0x3A, 0), "no medium");
}

#[test]
fn byte_count_limit_zero_is_aborted() {
    let mut ata = drive("SST39VF080");
    ata.byte_limit = 0;
    let mut buf = Vec::new();
    let out = ata
        .packet(&INQUIRY, DataDir::In(36), &mut buf, Duration::from_secs(5))
        .unwrap();
    assert!(out.check_condition());
    assert_eq!(out.error, 0x04);
}

#[test]
fn absent_slave_and_empty_address() {
    let sim = drive("SST39VF080").io;
    let mut slave = Ata::new(sim, Channel::legacy(4).unwrap());
    slave.io.outb(0x176, 0xB0);
    assert_eq!(
        slave.status(),
        0x00,
        "master answers 00 for an absent slave"
    );
    let mut primary = Ata::new(slave.io, Channel::legacy(1).unwrap());
    assert!(matches!(primary.select(), Err(AtaError::NoDevice { .. })));
}

#[test]
fn vendor_intro_byte_access_and_outro_on_parallel_flash() {
    let ata = drive("SST39VF080");
    let mut v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
    assert_eq!(v.kind, FlashKind::Parallel);
    assert_eq!(v.tf.io.drive.mode, Mode::Vendor);
    let flash = v.tf.io.drive.flash.mem().to_vec();
    for a in [0u32, 1, 0x40BC, 0x5_1234, 0xF_FFFF] {
        assert_eq!(v.read_byte(a).unwrap(), flash[a as usize], "byte at {a:#x}");
    }
    // JEDEC ID through the byte interface.
    for (a, d) in [(0x5555, 0xAA), (0x2AAA, 0x55), (0x5555, 0x90)] {
        v.write_byte(a, d).unwrap();
    }
    assert_eq!(
        (v.read_byte(0).unwrap(), v.read_byte(1).unwrap()),
        (0xBF, 0xD8)
    );
    v.write_byte(0, 0xF0).unwrap();
    // Program a byte in the FF padding of bank 1 (A19..A16 in the device nibble).
    let addr = 0x1_F000;
    assert_eq!(flash[addr as usize], 0xFF);
    for (a, d) in [(0x5555, 0xAA), (0x2AAA, 0x55), (0x5555, 0xA0), (addr, 0x5A)] {
        v.write_byte(a, d).unwrap();
    }
    v.tf.io.clock.advance_ns(20_000);
    assert_eq!(v.read_byte(addr).unwrap(), 0x5A);
    assert_eq!(v.tf.io.drive.flash.mem()[addr as usize], 0x5A);
    v.leave().unwrap();
    let mut ata = v.tf;
    // The image's checksum no longer matches: the drive reboots into boot code only.
    assert_eq!(ata.io.drive.mode, Mode::BootOnly);
    assert_eq!(
        ata.signature()[2..],
        [0, 0],
        "no ATAPI signature from boot code"
    );
}

#[test]
fn outro_reboots_into_the_firmware() {
    let ata = drive("SST39VF080");
    let mut v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
    assert_eq!(v.leave().unwrap() & 0x80, 0);
    let mut ata = v.tf;
    assert_eq!(ata.io.drive.mode, Mode::Normal);
    assert_eq!(ata.signature(), [1, 1, 0x14, 0xEB]);
    assert_eq!(ata_string(&ata.identify_packet().unwrap()[23..27]), "0055");
}

#[test]
fn spi_bridge_on_serial_flash() {
    let ata = drive("MX25L8005");
    let mut v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
    assert_eq!(v.kind, FlashKind::Serial);
    assert_eq!(v.spi(&[0x9F], 3).unwrap(), [0xC2, 0x20, 0x14]);
    assert_eq!(v.spi(&[0x90, 0, 0, 0], 2).unwrap(), [0xC2, 0x13]);
    // The reply follows the sent bytes in the staging area (2 bytes back at 0x8804).
    assert_eq!(v.mem_read(0x8804).unwrap(), 0xC2);
    assert_eq!(v.mem_read(0x8800).unwrap(), 0x90);
    let flash = v.tf.io.drive.flash.mem().to_vec();
    let got = v.spi(&[0x03, 0x00, 0x40, 0xB4], 36).unwrap();
    assert_eq!(got, flash[0x40B4..0x40B4 + 36]);
    // Program a page in the padding: WREN, PP, poll RDSR.
    v.spi(&[0x06], 0).unwrap();
    assert_eq!(v.spi(&[0x05], 1).unwrap()[0] & 0x02, 0x02, "WEL");
    v.spi(&[0x02, 0x01, 0xF0, 0x00, 0x11, 0x22], 0).unwrap();
    assert_eq!(v.spi(&[0x05], 1).unwrap()[0] & 0x01, 0x01, "WIP");
    v.tf.io.clock.advance_ns(2_000_000);
    assert_eq!(v.spi(&[0x05], 1).unwrap()[0] & 0x03, 0);
    assert_eq!(
        v.spi(&[0x03, 0x01, 0xF0, 0x00], 3).unwrap(),
        [0x11, 0x22, 0xFF]
    );
}

#[test]
fn bricked_drive_answers_only_the_intro() {
    let mut ata = drive("SST39VF080");
    ata.io.drive.flash.mem_mut()[0x80000] = 0x00; // bank 8 loses its LJMP
    ata.soft_reset().unwrap();
    assert_eq!(
        ata.io.drive.mode,
        Mode::Normal,
        "SRST alone does not reboot a running drive"
    );
    ata.io.power_cycle(0);
    ata.wait_not_busy(Duration::from_secs(1), "booting")
        .unwrap();
    assert_eq!(ata.io.drive.mode, Mode::BootOnly);
    assert_ne!(ata.signature()[2..], [0x14, 0xEB]);
    assert!(matches!(
        ata.identify_packet(),
        Err(AtaError::Aborted { .. })
    ));
    let mut buf = Vec::new();
    let out = ata
        .packet(&INQUIRY, DataDir::In(36), &mut buf, Duration::from_secs(5))
        .unwrap();
    assert!(
        out.check_condition() && buf.is_empty(),
        "no INQUIRY from boot code"
    );
    let v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
    assert_eq!(v.kind, FlashKind::Parallel);
}

#[test]
fn dead_drive_answers_nothing() {
    let mut ata = drive("SST39VF080");
    ata.io.drive.flash.mem_mut()[..0x1000].fill(0xFF);
    ata.io.drive.boot();
    assert_eq!(ata.io.drive.mode, Mode::Dead);
    assert_eq!(ata.status(), 0x80);
    assert!(matches!(ata.select(), Err(AtaError::Timeout { .. })));
    let err = Vendor::enter(ata).map_err(|e| e.1).err().unwrap();
    assert!(
        matches!(err, VendorError::IntroFailed { status: 0x80, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "MTK vendor intro failed on port 0x170 master (status 0x80)"
    );
}

#[test]
fn bank_nibble_is_rewritten_after_the_ignored_reselect() {
    // The reselect after each vendor command lands while the drive is busy and is
    // ignored; the next access to another 64 KiB bank must still reach that bank.
    let ata = drive("SST39VF080");
    let mut v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
    let flash = v.tf.io.drive.flash.mem().to_vec();
    for a in [
        0xF_0000u32,
        0x0_0000,
        0x3_0001,
        0x0_0002,
        0x1_FFFF,
        0x0_40BC,
    ] {
        assert_eq!(v.read_byte(a).unwrap(), flash[a as usize], "byte at {a:#x}");
    }
}

#[test]
fn spi_bridge_on_a_0x73_drive_stages_at_zero_with_lengths_high_byte_first() {
    let ata = drive_73("MX25L8005");
    let mut v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
    assert_eq!(v.bridge, Some(Bridge::V73));
    assert_eq!(v.spi(&[0x9F], 3).unwrap(), [0xC2, 0x20, 0x14]);
    // The status reply lands at 0x0001, where JF reads it on 0x73 drives.
    v.spi(&[0x05], 1).unwrap();
    assert_eq!(v.mem_read(0x0000).unwrap(), 0x05);
    assert_eq!(v.mem_read(0x0001).unwrap(), 0x00);
    // A 256-byte read goes as lengths 00 04 / 01 00 (high byte first).
    let flash = v.tf.io.drive.flash.mem().to_vec();
    let got = v.spi(&[0x03, 0x00, 0x40, 0x00], 256).unwrap();
    assert_eq!(got, flash[0x4000..0x4100]);
    assert_eq!(
        (v.tf.io.inb(0x171), v.tf.io.inb(0x172)),
        (0x00, 0x04),
        "features/count = transmit length, high byte first"
    );
}

#[test]
fn a_host_using_the_wrong_bridge_variant_gets_garbage_not_the_chip() {
    for (intro, wrong) in [(0x72u8, Bridge::V73), (0x73, Bridge::V72)] {
        let mut ata = drive("MX25L8005");
        ata.io.drive.serial_intro = intro;
        let mut v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
        v.bridge = Some(wrong);
        let id = v.spi(&[0x9F], 3);
        assert_ne!(
            id.ok(),
            Some(vec![0xC2, 0x20, 0x14]),
            "a 0x{intro:02X} drive driven as {wrong:?} must not look right"
        );
    }
}

#[test]
fn a_0x73_bridge_refuses_a_transfer_without_lba_low_zero() {
    let mut ata = drive_73("MX25L8005");
    Vendor::enter(&mut ata).map_err(|e| e.1).unwrap();
    ata.io.outb(0x176, 0xA0);
    ata.io.outb(0x171, 0x00);
    ata.io.outb(0x172, 0x01);
    ata.io.outb(0x173, 0x2A);
    ata.io.outb(0x174, 0x00);
    ata.io.outb(0x175, 0x03);
    ata.io.outb(0x177, 0x04);
    ata.io.clock.advance_ns(1_000_000);
    assert_eq!(ata.io.inb(0x177) & 0x01, 0x01, "ERR");
}

#[test]
fn spi_transfers_are_never_longer_than_4_plus_256_bytes() {
    let ata = drive("MX25L8005");
    let mut v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
    assert!(v.spi(&[0x03, 0, 0, 0], 256).is_ok());
    let e = v.spi(&[0x03, 0, 0, 0], 257).unwrap_err();
    assert!(e.to_string().contains("260 bytes"), "{e}");
    let mut page = vec![0x02, 0, 0, 0];
    page.extend([0u8; 257]);
    assert!(v.spi(&page, 0).is_err());
}

#[test]
fn the_staging_area_does_not_keep_bytes_past_a_transfer() {
    // I16 withdrawn: bytes staged before another transfer are not there afterwards.
    let ata = drive("MX25L8005");
    let mut v = Vendor::enter(ata).map_err(|e| e.1).unwrap();
    let staged: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
    v.spi_stage(4, &staged).unwrap();
    v.spi(&[0x05], 1).unwrap();
    let after: Vec<u8> = (0..64u16)
        .map(|i| v.mem_read(0x8804 + i).unwrap())
        .collect();
    assert_ne!(after, staged);
}

/// An empty position is not a misflashed drive. The master answers 0x00 for an absent
/// slave (and QEMU reads 0x00 on a channel with no device at all): IDENTIFY PACKET then
/// shows neither data (DRQ) nor an abort (ERR). A drive running its boot code only
/// aborts with ERR set. `scan` on QEMU listed the empty positions as misflashed drives.
#[test]
fn identify_on_an_absent_slave_finds_nothing_not_a_misflashed_drive() {
    let sim = drive("SST39VF080").io;
    let mut slave = Ata::new(sim, Channel::legacy(4).unwrap());
    match mtkflash::mtk::identity::identify(&mut slave) {
        Err(e @ AtaError::NoDevice { .. }) => {
            assert!(e.to_string().contains("0x00"), "{e}")
        }
        other => panic!("an absent slave identified as {other:?}"),
    }
    // The master itself still identifies, and a boot-only drive is still boot-only.
    let mut master = Ata::new(slave.io, Channel::legacy(3).unwrap());
    assert!(matches!(
        mtkflash::mtk::identity::identify(&mut master),
        Ok(mtkflash::mtk::identity::Identity::Atapi { .. })
    ));
    master.io.drive.mode = Mode::BootOnly;
    assert_eq!(
        mtkflash::mtk::identity::identify(&mut master),
        Ok(mtkflash::mtk::identity::Identity::BootOnly)
    );
}
