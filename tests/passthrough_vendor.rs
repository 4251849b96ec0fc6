//! EXPERIMENTAL path: vendor-mode flashing through ATA PASS-THROUGH(16), the task file
//! emulated over a SCSI transport, against the virtual drive's packet face (which passes
//! ATA_16 to its register model as libata does).

use mtkflash::chips::by_name;
use mtkflash::connect::{Device, Target};
use mtkflash::files::Backup;
use mtkflash::firmware::synth;
use mtkflash::ops::{Identity, Recorder, Ui, WriteOptions};
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
        match mtkflash::ops::session::identify(&mut dev).unwrap() {
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
        mtkflash::ops::session::identify(&mut dev).unwrap(),
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

fn device_with(chip: &str, libata: mtkflash::sim::packet::Libata) -> (Device, Shared) {
    let (dev, shared) = device(chip, false);
    shared.0.borrow_mut().libata = libata;
    (dev, shared)
}

#[test]
fn every_libata_model_carries_a_vendor_write() {
    use mtkflash::sim::packet::Libata;
    for (i, model) in ["k612-ahci", "k61-ahci", "k612-piix", "k61-piix"]
        .into_iter()
        .enumerate()
    {
        // Parallel and serial flash across the four models (512 KiB: the path, not the
        // size, is under test).
        {
            let chip = ["SST39SF040", "MX25L4005"][i % 2];
            let (mut dev, drive) = device_with(chip, Libata::parse(model).unwrap());
            let (_d, fw, img) = image(0x80000);
            let opts = WriteOptions {
                backup: Backup::Skip,
                ..WriteOptions::default()
            };
            let r = write_device(&mut dev, &fw, &opts, &mut Recorder::default());
            assert!(r.is_ok(), "{model} {chip}: {:?}", r.err());
            let d = drive.0.borrow();
            assert_eq!(d.ch.drive.flash.mem(), &img[..], "{model} {chip}");
            // SFF hosts send the drive a REQUEST SENSE after every DF status, AHCI never
            // (no ERR in 0x70/0x72): the model does what the kernel source says.
            let sff = model.ends_with("piix");
            assert_eq!(d.kernel_request_senses > 0, sff, "{model} {chip}");
        }
    }
}

/// Hands every DF completion back with the drive's own sense, as a 6.11+ kernel does
/// after its error handler asked a drive that answered.
struct DriveAnsweredSense(Shared);

impl ScsiTransport for DriveAnsweredSense {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        t: Duration,
    ) -> Result<ScsiResult, TransportError> {
        let mut r = self.0.execute(cdb, dir, t)?;
        if cdb[0] == 0x85 && r.sense.first() == Some(&0xF0) && r.sense[4] & 0x20 != 0 {
            r.sense[2] = 0x06;
            r.sense[12] = 0x29;
        }
        Ok(r)
    }
    fn describe(&self) -> String {
        "kernel that asked the drive".into()
    }
    fn sleep(&mut self, d: Duration) {
        self.0.sleep(d)
    }
}

/// Answers the ATA_16 commands after the first `ok` with CHECK CONDITION and no sense,
/// as when libata's error handler gave up on the drive.
struct LostSense(Shared, u32);

impl ScsiTransport for LostSense {
    fn execute(
        &mut self,
        cdb: &[u8],
        dir: Dir<'_>,
        t: Duration,
    ) -> Result<ScsiResult, TransportError> {
        let r = self.0.execute(cdb, dir, t)?;
        if cdb[0] == 0x85 {
            if self.1 == 0 {
                return Ok(ScsiResult {
                    status: 0x02,
                    sense: Vec::new(),
                    data: Vec::new(),
                });
            }
            self.1 -= 1;
        }
        Ok(r)
    }
    fn describe(&self) -> String {
        "kernel that lost the sense".into()
    }
    fn sleep(&mut self, d: Duration) {
        self.0.sleep(d)
    }
}

#[test]
fn what_libata_does_behind_the_tools_back_stops_the_session_with_nothing_written() {
    let (_d, fw, _) = image(0x100000);
    let opts = WriteOptions {
        backup: Backup::Skip,
        ..WriteOptions::default()
    };
    // A sense mtkflash did not ask for: stopped at the intro.
    let (_, shared) = device("SST39VF080", false);
    let before = shared.0.borrow().ch.drive.flash.mem().to_vec();
    let mut dev = Device::from_transport(
        Box::new(DriveAnsweredSense(shared.clone())),
        Target::Scsi(PathBuf::from("/dev/virtual")),
    );
    let f = write_device(&mut dev, &fw, &opts, &mut Recorder::default()).unwrap_err();
    assert_eq!(f.code(), 4, "{f}");
    assert!(f.what.contains("asked the drive for sense"), "{f}");
    assert!(f.next.contains("task-file port"), "{f}");
    assert_eq!(shared.0.borrow().ch.drive.flash.mem(), &before[..]);
    // Registers lost in the middle of reading the flash: stopped, flash not changed.
    let (_, shared) = device("MX25L8005", false);
    let before = shared.0.borrow().ch.drive.flash.mem().to_vec();
    let mut dev = Device::from_transport(
        Box::new(LostSense(shared.clone(), 2000)),
        Target::Scsi(PathBuf::from("/dev/virtual")),
    );
    let f = write_device(&mut dev, &fw, &opts, &mut Recorder::default()).unwrap_err();
    assert!(f.what.contains("no sense data"), "{f}");
    assert_eq!(shared.0.borrow().ch.drive.flash.mem(), &before[..]);
}

/// Load `fw` and write it to the open device, as `mtkflash write` does.
fn write_device(
    dev: &mut Device,
    fw: &std::path::Path,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<mtkflash::ops::Report, mtkflash::error::Failure> {
    let image = mtkflash::jobs::load_for_write(fw, opts.write_boot, ui)?;
    mtkflash::ops::write::write(dev, image, opts, ui)
}
