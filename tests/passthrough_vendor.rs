//! EXPERIMENTAL path: vendor-mode flashing through ATA PASS-THROUGH(16), the task file
//! emulated over a SCSI transport, against the virtual drive's packet face (which passes
//! ATA_16 to its register model as libata does).

use mtkflash::chips::by_name;
use mtkflash::firmware::synth;
use mtkflash::ops::device::{Device, Identity};
use mtkflash::ops::flash::{write_device, Backup, WriteOptions};
use mtkflash::ops::{Recorder, Target};
use mtkflash::sim::drive::boot_crc;
use mtkflash::sim::packet::SimPacket;
use mtkflash::sim::{self, Drive, Flash, Mode};
use mtkflash::transport::scsi::{Dir, ScsiResult, ScsiTransport, TransportError};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

/// The virtual drive shared with the test, so its flash can be checked directly.
#[derive(Clone)]
struct Shared(Rc<RefCell<SimPacket>>);

impl ScsiTransport for Shared {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        t: Duration,
    ) -> Result<ScsiResult, TransportError> {
        self.0.borrow_mut().execute(cdb, dir, t)
    }
    fn describe(&self) -> String {
        "shared virtual drive".into()
    }
    fn sleep(&mut self, d: Duration) {
        self.0.borrow_mut().sleep(d)
    }
}

fn device(chip: &str, bricked: bool) -> (Device, Shared) {
    let info = by_name(chip).unwrap();
    let spec = synth::Spec {
        size: info.size as usize,
        ..synth::Spec::btc("0055")
    };
    let mut img = synth::generate(&spec);
    let crc = boot_crc(&img);
    if bricked {
        img[0x10000..0x1F000].fill(0xFF);
    }
    let drive = Drive::new(Flash::new(info, img), sim::btc_settings("0055"), crc);
    let shared = Shared(Rc::new(RefCell::new(SimPacket::new(drive))));
    let dev = Device::from_transport(
        Box::new(shared.clone()),
        Target::Scsi(PathBuf::from("/dev/virtual")),
    );
    (dev, shared)
}

fn image(size: usize) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let img = synth::generate(&synth::Spec {
        size,
        ..synth::Spec::btc("0758")
    });
    let p = dir.path().join("fw.bin");
    std::fs::write(&p, &img).unwrap();
    (dir, p, img)
}

#[test]
fn identity_and_a_full_vendor_write_through_pass_through() {
    for chip in ["SST39VF080", "MX25L8005"] {
        let (mut dev, drive) = device(chip, false);
        match dev.identity().unwrap() {
            Identity::Atapi {
                vendor,
                product,
                revision,
                ..
            } => assert_eq!(
                (vendor.as_str(), product.as_str(), revision.as_str()),
                ("BTC", "DVDRW IDE1008", "0055")
            ),
            other => panic!("{chip}: {other:?}"),
        }
        let (_d, fw, img) = image(by_name(chip).unwrap().size as usize);
        let opts = WriteOptions {
            backup: Backup::Skip,
            ..WriteOptions::default()
        };
        let mut ui = Recorder::default();
        let r =
            write_device(&mut dev, &fw, &opts, &mut ui).unwrap_or_else(|f| panic!("{chip}: {f}"));
        assert_eq!(
            r.identity_after.as_deref(),
            Some("BTC DVDRW IDE1008 0758"),
            "{chip}"
        );
        assert!(
            ui.lines.iter().any(|l| l.starts_with("Verify OK")),
            "{chip}"
        );
        assert_eq!(
            drive.0.borrow().ch.drive.flash.mem(),
            &img[..],
            "{chip}: the flash itself holds the image"
        );
    }
}

#[test]
fn a_boot_only_drive_is_recovered_through_pass_through() {
    let (mut dev, drive) = device("SST39VF080", true);
    assert_eq!(
        dev.identity().unwrap(),
        Identity::BootOnly,
        "no IDENTIFY, no INQUIRY from boot code"
    );
    let (_d, fw, img) = image(0x100000);
    let opts = WriteOptions {
        backup: Backup::Skip,
        ..WriteOptions::default()
    };
    let r = write_device(&mut dev, &fw, &opts, &mut Recorder::default()).unwrap();
    assert_eq!(r.identity_after.as_deref(), Some("BTC DVDRW IDE1008 0758"));
    let d = drive.0.borrow();
    assert_eq!(d.ch.drive.mode, Mode::Normal);
    assert_eq!(d.ch.drive.flash.mem()[0x4000..], img[0x4000..]);
}
