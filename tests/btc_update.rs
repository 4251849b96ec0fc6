//! The BTC ATAPI update against the virtual drive, through its packet face and through
//! PIO PACKET on its registers.

use mtkflash::chips::by_name;
use mtkflash::firmware::synth;
use mtkflash::mtk::update::{btc_update, inquiry, write_buffer_cdb};
use mtkflash::sim::drive::boot_crc;
use mtkflash::sim::packet::SimPacket;
use mtkflash::sim::{self, Drive, Flash};
use mtkflash::transport::ata::{Ata, Channel};
use mtkflash::transport::scsi::{Dir, ScsiTransport};
use std::time::Duration;

fn drive() -> Drive {
    let img = synth::generate(&synth::Spec::btc("0055"));
    let crc = boot_crc(&img);
    Drive::new(
        Flash::new(by_name("SST39VF080").unwrap(), img),
        sim::btc_settings("0055"),
        crc,
    )
}

#[test]
fn update_over_the_packet_face() {
    let mut t = SimPacket::new(drive());
    assert_eq!(inquiry(&mut t).unwrap().revision, "0055");
    let new = synth::generate(&synth::Spec::btc("0758"));
    let mut chunks = 0;
    let id = btc_update(&mut t, &new, |_, _| {
        chunks += 1;
        true
    })
    .unwrap();
    assert_eq!(chunks, 256);
    assert_eq!(id.revision, "0758");
    assert_eq!(t.ch.drive.flash.mem(), &new[..]);
    // The drive took its time: chip erase + 1 Mi byte programs at 14 us + reboot.
    assert!(t.ch.clock.ns() > 15_000_000_000, "{}", t.ch.clock.ns());
}

#[test]
fn update_over_pio_packet_on_the_registers() {
    let ch = sim::channel(
        by_name("SST39VF080").unwrap(),
        synth::generate(&synth::Spec::btc("0055")),
        sim::btc_settings("0055"),
    );
    let mut ata = Ata::new(ch, Channel::legacy(3).unwrap());
    ata.byte_limit = 0x8000; // 4 KiB chunks fit; data phases still use DRQ blocks
    let new = synth::generate(&synth::Spec::btc("0758"));
    let id = btc_update(&mut ata, &new, |_, _| true).unwrap();
    assert_eq!(id.revision, "0758");
    assert_eq!(ata.io.drive.flash.mem(), &new[..]);
}

#[test]
fn a_wrong_checksum_is_refused_and_nothing_changes() {
    let mut t = SimPacket::new(drive());
    let before = t.ch.drive.flash.mem().to_vec();
    let new = synth::generate(&synth::Spec::btc("0758"));
    for (i, c) in new.chunks(0x1000).enumerate() {
        let r = t
            .execute(
                &write_buffer_cdb(6, i * 0x1000 + 0x20, 0x1000),
                Dir::Out(c),
                Duration::from_secs(5),
            )
            .unwrap();
        assert!(r.good());
    }
    let header = [0u8; 32]; // checksum 0000: wrong
    t.execute(
        &write_buffer_cdb(6, 0, 32),
        Dir::Out(&header),
        Duration::from_secs(5),
    )
    .unwrap();
    let r = t
        .execute(
            &write_buffer_cdb(7, 0, 0),
            Dir::None,
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(
        r.describe(),
        "CHECK CONDITION: ILLEGAL REQUEST, invalid field in parameter list (5/26/00)"
    );
    assert_eq!(t.ch.drive.flash.mem(), &before[..]);
}

#[test]
fn an_incomplete_upload_is_a_sequence_error() {
    let mut t = SimPacket::new(drive());
    let chunk = vec![0u8; 0x1000];
    t.execute(
        &write_buffer_cdb(6, 0x20, 0x1000),
        Dir::Out(&chunk),
        Duration::from_secs(5),
    )
    .unwrap();
    let r = t
        .execute(
            &write_buffer_cdb(7, 0, 0),
            Dir::None,
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(r.sense_info().map(|s| (s.key, s.asc)), Some((5, 0x2C)));
}

#[test]
fn busy_while_updating_then_unit_attention_once() {
    let mut t = SimPacket::new(drive());
    let new = synth::generate(&synth::Spec::btc("0758"));
    for (i, c) in new.chunks(0x1000).enumerate() {
        t.execute(
            &write_buffer_cdb(6, i * 0x1000 + 0x20, 0x1000),
            Dir::Out(c),
            Duration::from_secs(5),
        )
        .unwrap();
    }
    let mut header = [0u8; 32];
    header[30..].copy_from_slice(&mtkflash::firmware::sum16(&new).to_be_bytes());
    t.execute(
        &write_buffer_cdb(6, 0, 32),
        Dir::Out(&header),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(t
        .execute(
            &write_buffer_cdb(7, 0, 0),
            Dir::None,
            Duration::from_secs(5)
        )
        .unwrap()
        .good());
    let tur = [0u8; 6];
    let r = t.execute(&tur, Dir::None, Duration::from_secs(5)).unwrap();
    assert_eq!(
        r.sense_info().map(|s| (s.key, s.asc, s.ascq)),
        Some((2, 0x04, 0x07)),
        "operation in progress"
    );
    t.sleep(Duration::from_secs(60));
    let r = t.execute(&tur, Dir::None, Duration::from_secs(5)).unwrap();
    assert_eq!(
        r.sense_info().map(|s| (s.key, s.asc)),
        Some((6, 0x29)),
        "unit attention after reboot"
    );
    let r = t.execute(&tur, Dir::None, Duration::from_secs(5)).unwrap();
    assert_eq!(
        r.sense_info().map(|s| (s.key, s.asc)),
        Some((2, 0x3A)),
        "ready, no medium"
    );
}

#[test]
fn stopping_before_the_commit_changes_nothing() {
    let mut t = SimPacket::new(drive());
    let before = t.ch.drive.flash.mem().to_vec();
    let new = synth::generate(&synth::Spec::btc("0758"));
    let e = btc_update(&mut t, &new, |done, _| done < 0x40000).unwrap_err();
    assert_eq!(e, mtkflash::mtk::update::UpdateError::Cancelled);
    t.sleep(Duration::from_secs(100));
    assert_eq!(t.ch.drive.flash.mem(), &before[..]);
    assert_eq!(inquiry(&mut t).unwrap().revision, "0055");
}

/// A transport that records when each command was sent (virtual seconds) and can hold a
/// drive NOT READY for longer than the model does.
struct Watch {
    inner: SimPacket,
    log: Vec<(u8, f64)>,
    not_ready_until: f64,
}

impl Watch {
    fn new(d: Drive) -> Watch {
        Watch {
            inner: SimPacket::new(d),
            log: Vec::new(),
            not_ready_until: 0.0,
        }
    }
    fn now(&self) -> f64 {
        self.inner.ch.clock.ns() as f64 / 1e9
    }
}

impl ScsiTransport for Watch {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        timeout: Duration,
    ) -> Result<mtkflash::transport::scsi::ScsiResult, mtkflash::transport::scsi::TransportError>
    {
        let now = self.now();
        self.log.push((cdb[0], now));
        if cdb[0] == 0x00 && now < self.not_ready_until {
            // NOT READY, becoming ready: what a slow drive answers while it rewrites.
            return Ok(mtkflash::transport::scsi::ScsiResult {
                status: 0x02,
                sense: mtkflash::transport::scsi::fixed_sense(2, 0x04, 0x01),
                data: Vec::new(),
            });
        }
        self.inner.execute(cdb, dir, timeout)
    }
    fn describe(&self) -> String {
        "watch".into()
    }
    fn sleep(&mut self, d: Duration) {
        self.inner.sleep(d)
    }
}

#[test]
fn after_the_commit_the_drive_is_left_alone_50_s_as_btcflash_does() {
    let mut t = Watch::new(drive());
    let new = synth::generate(&synth::Spec::btc("0758"));
    let id = btc_update(&mut t, &new, |_, _| true).unwrap();
    assert_eq!(id.revision, "0758");
    let commit = t
        .log
        .iter()
        .position(|&(op, _)| op == 0x3B)
        .map(|_| t.log.iter().rposition(|&(op, _)| op == 0x3B).unwrap())
        .unwrap();
    let (_, at) = t.log[commit];
    let (op, next) = t.log[commit + 1];
    assert_eq!(op, 0x00, "TEST UNIT READY follows the commit");
    assert!(
        next - at >= 50.0,
        "first poll {:.1} s after the commit",
        next - at
    );
}

#[test]
fn a_drive_busy_for_over_five_minutes_is_waited_for() {
    let mut t = Watch::new(drive());
    t.not_ready_until = 8.0 * 60.0;
    let new = synth::generate(&synth::Spec::btc("0758"));
    let mut seen = Vec::new();
    let id = mtkflash::mtk::update::btc_update_with(
        &mut t,
        &new,
        |_, _| true,
        |waited, limit| seen.push((waited, limit)),
    )
    .unwrap();
    assert_eq!(id.revision, "0758");
    assert!(
        seen.len() > 300,
        "a progress call a second ({})",
        seen.len()
    );
    assert!(seen.iter().all(|&(_, l)| l >= Duration::from_secs(300)));
}

#[test]
fn only_exactly_one_mib_is_uploaded() {
    let mut t = Watch::new(drive());
    let before = t.inner.ch.drive.flash.mem().to_vec();
    for len in [0x80000, 0x100000 - 1, 0x200000] {
        let img = vec![0x02; len];
        let e = btc_update(&mut t, &img, |_, _| true).unwrap_err();
        assert_eq!(e, mtkflash::mtk::update::UpdateError::Size { len });
    }
    assert!(t.log.is_empty(), "nothing sent: {:?}", t.log);
    assert_eq!(t.inner.ch.drive.flash.mem(), &before[..]);
}

#[test]
fn the_drives_updater_refuses_an_upload_on_a_flash_that_is_not_1_mib() {
    let img = synth::generate(&synth::Spec {
        size: 0x80000,
        ..synth::Spec::btc("0055")
    });
    let crc = boot_crc(&img);
    let d = Drive::new(
        Flash::new(by_name("SST39SF040").unwrap(), img),
        sim::btc_settings("0055"),
        crc,
    );
    let mut t = SimPacket::new(d);
    let r = t
        .execute(
            &write_buffer_cdb(6, 0x20, 0x1000),
            Dir::Out(&[0u8; 0x1000]),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(r.sense_info().map(|s| (s.key, s.asc)), Some((5, 0x24)));
}
