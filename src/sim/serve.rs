//! The virtual drive's packet face on a Unix socket, so that unmodified programs (through
//! the LD_PRELOAD shim in tests/shim) can issue SG_IO against it.
//!
//! One connection is served; when it closes, the drive is saved. Little-endian frames:
//! request `C` cdb_len:u8 cdb dir:u8(0 none,1 in,2 out) len:u32 [data if out] ->
//! reply status:u8 (0xFF = transport error) sense_len:u8 sense data_len:u32 data;
//! request `S` ms:u32 (a sleep of the client, advancing the drive's clock) -> reply 0.
//!
//! A client whose waits the shim cannot see (under Wine the wineserver times them) is
//! served with `time_scale` > 0: the real time between a reply and the next request,
//! times the scale, passes on the drive's clock too.

use super::packet::SimPacket;
use super::store::Stored;
use crate::clock::Clock;
use crate::transport::scsi::{Dir, ScsiTransport};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

fn read_n(s: &mut impl Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b)?;
    Ok(b)
}

pub fn serve(
    path: &Path,
    socket: &Path,
    log: Option<&Path>,
    time_scale: u32,
) -> Result<(), String> {
    let stored = Stored::load(path).map_err(|e| e.to_string())?;
    let meta = stored.meta.clone();
    let ch = stored.into_channel();
    let mut t = SimPacket::new(ch.drive);
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    let mut logf = match log {
        Some(l) => Some(std::fs::File::create(l).map_err(|e| e.to_string())?),
        None => None,
    };
    let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
    let mut replied = std::time::Instant::now();
    loop {
        let mut op = [0u8; 1];
        if s.read_exact(&mut op).is_err() {
            break;
        }
        if time_scale > 0 {
            t.ch.clock.sleep(replied.elapsed() * time_scale);
        }
        let r: std::io::Result<()> = (|| match op[0] {
            b'C' => {
                let n = read_n(&mut s, 1)?[0] as usize;
                let cdb = read_n(&mut s, n)?;
                let hdr = read_n(&mut s, 5)?;
                let len = u32::from_le_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as usize;
                let out = if hdr[0] == 2 {
                    read_n(&mut s, len)?
                } else {
                    Vec::new()
                };
                let dir = match hdr[0] {
                    1 => Dir::In(len),
                    2 => Dir::Out(&out),
                    _ => Dir::None,
                };
                let res = t.execute(&cdb, dir, Duration::from_secs(60));
                let mut reply = Vec::new();
                match &res {
                    Ok(r) => {
                        reply.push(r.status);
                        reply.push(r.sense.len() as u8);
                        reply.extend_from_slice(&r.sense);
                        reply.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
                        reply.extend_from_slice(&r.data);
                    }
                    Err(_) => reply.extend_from_slice(&[0xFF, 0, 0, 0, 0, 0]),
                }
                if let Some(f) = logf.as_mut() {
                    let st = res.as_ref().map(|r| r.status as i32).unwrap_or(-1);
                    writeln!(
                        f,
                        "cdb={} out={} in={} status={st}",
                        hex::encode_upper(&cdb),
                        out.len(),
                        if hdr[0] == 1 { len } else { 0 }
                    )?;
                }
                s.write_all(&reply)
            }
            b'S' => {
                let b = read_n(&mut s, 4)?;
                t.ch.clock.sleep(Duration::from_millis(
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
                ));
                s.write_all(&[0])
            }
            _ => Err(std::io::Error::other("bad request")),
        })();
        if r.is_err() {
            break;
        }
        replied = std::time::Instant::now();
    }
    // Time passes after the client leaves: a committed update completes.
    if let Some((_, image)) = t.ch.drive.updating.take() {
        t.ch.drive.finish_update(image);
    }
    eprintln!(
        "sim serve: {} commands, device time {:.2} s (modelled)",
        t.commands,
        t.ch.clock.now().as_secs_f64()
    );
    Stored::from_drive(t.ch.drive, meta)
        .save(path)
        .map_err(|e| e.to_string())
}
