//! Every protocol or format detail this project uses that rests on inference rather than
//! on a documented or observed fact. Both the host side (mtk/, firmware/) and the virtual
//! drive (sim/) take these from here, so a trace from real hardware corrects them in one
//! edit. docs/inferences.md lists the same items with their reasoning.
//!
//! Facts (with sources) live in ../shared/docs/protocol.md; only guesses live here.

/// I1. Vendor-mode status after each byte/SPI command, parallel flash: the intro's answer
/// (0x70) is also the idle status the host polls for (JF polls for 0x70; documented).
pub const VENDOR_IDLE_PARALLEL: u8 = 0x70;

/// I2. Serial (SPI) vendor mode: the drive idles at its intro answer (0x72 or 0x73)
/// between commands. JF waits for exactly that status again after every command
/// (`method_231`); that it is the idle status of every byte command is inferred.
pub const VENDOR_IDLE_SERIAL: u8 = 0x72;

/// I3. SPI bridge split of commands: 0x04 lowers chip select, clocks out the staged
/// bytes and clocks in the reply; 0x05 raises chip select (which starts a program or
/// erase inside the chip). JF sends 0x05 after every 0x04 (`method_231`); what each does
/// inside the drive is inferred.
pub const SPI_CMD_TRANSFER: u8 = 0x04;
pub const SPI_CMD_END: u8 = 0x05;

/// I4. The SPI bridge variants (facts from JF, protocol.md section 6): 0x72 drives stage
/// at 0x8800 with lengths low byte first (features/count = transmit length, LBA mid/high
/// = receive length); 0x73 drives stage at 0x0000 with lengths high byte first. JF never
/// moves more than 4 + 256 bytes in one transfer. Inferred: the reply lands right after
/// the sent bytes in the staging area on both variants (JF reads the 0x72 status reply
/// at 0x0001, not 0x8801, which suggests a mirror; this project reads 0x8801).
pub const SPI_STAGING_72: u16 = 0x8800;
pub const SPI_STAGING_73: u16 = 0x0000;
pub const SPI_MAX_TRANSFER: usize = 4 + 256;

/// I5. How long the drive's 8032 takes to execute one vendor command (byte access or
/// SPI bridge step), in nanoseconds, excluding the bus cycles. A guess of a few
/// microseconds for a handful of 8032 instructions at ~33 MHz.
pub const VENDOR_CMD_NS: u64 = 2_000;

/// I23. When within a vendor command the drive samples the flash: at the end of its
/// work (`VENDOR_CMD_NS` after the command register is written); an SPI status byte one
/// SPI byte time later (after the opcode is clocked out). Used only to time the first
/// completion read after a program (the chip drivers): wrong by d, that read comes
/// d early (a chip seen busy: one more poll) or d late (d lost per byte).
pub const SAMPLE_AFTER_CMD_NS: u64 = VENDOR_CMD_NS;

/// One byte clocked over the drive's SPI bus during a bridge transaction (an 8 MHz SPI
/// clock: a guess; no source gives the bridge's clock). The virtual drive is busy this
/// long per byte sent and received, and the physical limit (src/limit.rs) counts it.
pub const SPI_BYTE_NS: u64 = 1_000;

/// I6. A working drive (valid firmware) accepts the vendor intro as well as the boot
/// code does. The classic tools used the same intro on working and dead drives.
pub const INTRO_IN_NORMAL_MODE: bool = true;

/// I7. A drive running boot code only (firmware invalid) posts no ATAPI signature
/// (LBA mid/high read 00/00) and aborts IDENTIFY PACKET and PACKET (status 0x51,
/// error 0x04), while still answering the vendor intro. (Status 0x00 after IDENTIFY
/// PACKET, what an empty position reads, still goes on to the intro on a named port:
/// boot code that ignores the command would read the same.)
pub const BOOT_ONLY_STATUS: u8 = 0x51;

/// I8. A drive whose boot code is damaged holds BSY forever: nothing answers.
pub const DEAD_STATUS: u8 = 0x80;

/// I9. Time the drive stays busy rebooting after DEVICE RESET or the outro, in ns.
/// protocol.md says tools wait 350 ms after the outro; the drive model boots in 300 ms.
pub const BOOT_NS: u64 = 300_000_000;

/// I10. The firmware's own integrity check, used by the drive model to decide whether it
/// boots: the last two bytes of the image hold, big-endian, the 16-bit sum of all the
/// bytes before them (as the MT1939 stores its sum at the end of its image; for 8032-era
/// BTC drives where the sum is kept is not documented). Only the drive model enforces it;
/// the host only reports it.
pub fn embedded_checksum(image: &[u8]) -> Option<(u16, u16)> {
    if image.len() < 2 {
        return None;
    }
    let n = image.len();
    let stored = u16::from_be_bytes([image[n - 2], image[n - 1]]);
    let computed = crate::firmware::sum16(&image[..n - 2]);
    Some((stored, computed))
}

/// Make `image` satisfy [`embedded_checksum`] (used by the synthetic generator).
pub fn seal_embedded_checksum(image: &mut [u8]) {
    let n = image.len();
    let sum = crate::firmware::sum16(&image[..n - 2]);
    image[n - 2..].copy_from_slice(&sum.to_be_bytes());
}

/// I11. `/m` in the MTKFlash command line has no documented meaning. This tool accepts it
/// and does nothing with it.
pub const SLASH_M_MEANING: &str = "accepted for compatibility; has no effect";

/// I12. A bank is valid when it starts with 0x02 (LJMP) or 0x80 (SJMP), after
/// OmniPatcher; whether the boot code checks this is inferred.
pub fn bank_start_ok(b: u8) -> bool {
    b == 0x02 || b == 0x80
}

/// I13. Boot code occupies 0x0000..0x4000 (OmniPatcher, JungleFlasher, coastermelt agree
/// on the size only by inference).
pub const BOOT_LEN: usize = 0x4000;

/// I14. BTC WRITE BUFFER buffer layout. btcflash sends the image in 4 KiB chunks with
/// 0x20 in the low byte of the 24-bit buffer offset, and a 32-byte block at offset 0
/// whose bytes 30..31 hold the checksum. Read as SCSI buffer offsets, that is a 32-byte
/// header (checksum at 0x1E) followed by the image at 0x20: the model keeps its buffer
/// that way and refuses a commit whose image was not fully uploaded or whose sum differs.
pub const BTC_HEADER: usize = 0x20;

/// I15. During its self-reflash after the commit the drive answers every command with
/// NOT READY, "operation in progress" (2/04/07), and after rebooting it reports UNIT
/// ATTENTION, power on or reset (6/29/00) once. btcflash only documents that it waits
/// 50 s and then polls TEST UNIT READY.
pub const UPDATING_SENSE: (u8, u8, u8) = (2, 0x04, 0x07);

/// I16 (withdrawn). Staging the next SPI page while the chip programs the current one
/// relied on the staging area keeping its content between transfers; no source shows a
/// drive that does, so the host stages every transfer whole, right before it runs. The
/// virtual drive leaves the staging area past each transfer's reply undefined (it fills
/// it with noise), so a host that relied on it would fail verification.
pub const STAGING_PERSISTS: bool = false;

/// I17. After the user confirms a power cycle, how long the intro is sent again and
/// again, and how far apart. No source gives the boot code's listening window; the
/// classic advice is "run the tool right after power-on". The window covers the
/// person's reach for the power plug, the drive's boot and its listening time; the gap
/// is far below any boot time.
pub const INTRO_RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(20);
pub const INTRO_RETRY_GAP: std::time::Duration = std::time::Duration::from_millis(50);
/// One round of `--retries`: after the first intro, each further round sends it every
/// INTRO_RETRY_GAP for this long, so a drive still starting is caught when it listens.
pub const INTRO_RETRY_ROUND: std::time::Duration = std::time::Duration::from_secs(1);

/// I18. The MT1959 upload mtkflash sends: RD's 10-byte WRITE BUFFER commands (mode 1
/// prepare, mode 6 chunks) and no mode-7 commit. FMK sends 12-byte CDBs and a trailing
/// mode-7 commit `1B 12`; both say the drive programs when the last chunk lands. 0x3B is
/// a 10-byte (group 1) opcode, which every pass-through path and USB bridge carries as
/// it is; the commit is FMK's alone. True sends FMK's commit after the last chunk. The
/// virtual drive accepts both orders.
pub const MT1959_COMMIT: bool = false;

/// I19. An MT1959 drive's updater keeps its boot area (the first 0x10000 bytes) and
/// programs the rest of the uploaded 2 MiB. RD sends that area as FF with the drive's
/// own boot config at 0x3000 and has flashed real drives so: a drive that programmed
/// those FF bytes would be bricked, which does not happen. The virtual drive keeps the
/// area; a read-back compares everything above it.
pub const MT1959_KEEPS_BOOT_AREA: bool = true;

/// I20. The MT1959 identity page (0x1EC000, 0x100 bytes) starts with the model's
/// vendor (8), product (16) and revision (4) as INQUIRY gives them. FMK reads it as the
/// model signature; its layout is not published. The model check also compares the
/// boot config ID (first 16 bytes at 0x3000), a fact (RD); the page check is refused
/// with --force overriding it, the boot-config check never (as RD).
pub const MT1959_IDENTITY_IS_INQUIRY: bool = true;

/// I21. While an MT1959 or MT1339 drive programs after the last chunk it answers every
/// command NOT READY 2/04/07 (as I15) for this long in the model (FMK waits up to 45 s,
/// RD 15 s after a few seconds of programming); power lost meanwhile leaves it running
/// its loader only, which answers INQUIRY with revision "BOOT" (as the SE-506CB's
/// bootloader does, coastermelt) and takes a new upload.
pub const FAMILY_PROGRAM_NS: u64 = 6_000_000_000;

/// I22. The MT1339 model: it programs when the last block (mode 02/04) lands, as the
/// MT1959 does when its last chunk does, and it answers READ BUFFER mode 6 over its
/// 256 KiB so the write can be read back. RD sends no commit and reads nothing back;
/// no source says either. On a drive that refuses READ BUFFER, `read` says it cannot,
/// and a write says its result is not confirmed; an upload that stops midway is
/// reported as leaving the drive in an unknown state.
pub const MT1339_PROGRAMS_ON_LAST_BLOCK: bool = true;

/// I24. Windows: vendor commands go to an ATAPI drive through IOCTL_ATA_PASS_THROUGH
/// (the task file in, the registers back in CurrentTaskFile, as Microsoft documents
/// ATA_PASS_THROUGH_EX) when the port driver has it, and as ATA PASS-THROUGH(16)
/// through SPTI only where it answers "not supported". Microsoft does not say whether
/// storahci or atapi.sys hand a packet device's status with DF set back untouched, nor
/// whether they translate ATA_16 for a packet device rather than send it to the drive
/// as a CDB (Linux translates it, `libata.atapi_passthru16`). Unproven on hardware.
pub const WINDOWS_ATA_IOCTL_FIRST: bool = true;
