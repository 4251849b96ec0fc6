//! The planner's tests: plans must turn the current content into the target on every
//! chip, keep the boot code, and follow the write order.

use super::erase::nested_erasers;
use super::order::step_start;
use super::*;
use crate::chips::by_name;
use crate::firmware::BANK;
use proptest::prelude::*;

fn run(chip: &str, cur: &[u8], want: &[u8], boot: bool) -> (Plan, Vec<u8>) {
    let c = by_name(chip).unwrap();
    let p = plan(c, c.erasers, cur, want, boot, &Cost::default());
    let mut out = cur.to_vec();
    simulate(c, &p, &mut out);
    (p, out)
}

#[test]
fn identical_image_plans_nothing() {
    let img = vec![0x5A; 0x80000];
    let (p, _) = run("SST39SF040", &img, &img, true);
    assert!(p.is_empty());
    assert_eq!(p.chip_time, Duration::ZERO);
}

#[test]
fn one_changed_sector_erases_that_sector_and_two_sentinel_starts() {
    // Every bank starts with a jump, so no bank start is invalid to begin with.
    let cur: Vec<u8> = (0..0x100000)
        .map(|i| if i % BANK == 0 { 0x02 } else { 0x00 })
        .collect();
    let mut want = cur.clone();
    want[0x23456] = 0x01;
    let (p, out) = run("SST39VF080", &cur, &want, true);
    assert_eq!(out, want);
    let erases: Vec<(u32, u32)> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Erase { start, len, .. } => Some((*start, *len)),
            _ => None,
        })
        .collect();
    assert_eq!(erases.len(), 3, "{erases:X?}");
    assert!(erases.contains(&(0x23000, 0x1000)));
    assert_eq!(p.sentinels.len(), 2);
    for m in &p.sentinels {
        assert!(erases.contains(&(*m, 0x1000)), "sentinel {m:X}");
    }
    // The sentinels' starts programmed to 00, their units erased, before anything
    // else; the last sentinel's start byte last.
    for (i, m) in p.sentinels.iter().enumerate() {
        assert!(matches!(&p.steps[i], Step::Program { start, data }
            if start == m && data[..] == [0x00]));
        assert!(matches!(p.steps[2 + i], Step::Erase { start, .. } if start == *m));
    }
    assert!(matches!(p.steps.last(), Some(Step::Program { start, data })
        if *start == p.sentinels[1] && data.len() == 1));
    // Three sectors reprogrammed (4094 zero bytes and a jump each, one changed byte)
    // and the two 00 bytes that invalidate the sentinels' starts.
    assert_eq!(p.program_bytes, 3 * 0x1000 + 2);
}

fn weak_bootable(img: &[u8]) -> bool {
    crate::firmware::weakly_bootable(img)
}

fn images_with_banks(size: usize, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let cur: Vec<u8> = (0..size)
        .map(|i| {
            if i % BANK == 0 {
                0x02
            } else {
                (i as u8).wrapping_mul(seed)
            }
        })
        .collect();
    let want: Vec<u8> = (0..size)
        .map(|i| {
            if i % BANK == 0 {
                0x02
            } else {
                (i as u8).wrapping_mul(seed ^ 0x5A)
            }
        })
        .collect();
    (cur, want)
}

/// After every step of a plan the flash is the old image, the new one, or one the
/// drive cannot boot; a step that makes a bank start valid writes that byte alone.
fn assert_no_half_written_boot(chip: &str, cur: &[u8], want: &[u8], boot: bool) {
    let c = by_name(chip).unwrap();
    let p = plan(c, c.erasers, cur, want, boot, &Cost::default());
    let mut mem = cur.to_vec();
    for (i, st) in p.steps.iter().enumerate() {
        let before = mem.clone();
        simulate(
            c,
            &Plan {
                steps: vec![st.clone()],
                ..p.clone()
            },
            &mut mem,
        );
        let half = mem != cur && mem != p.target;
        assert!(
            !(half && weak_bootable(&mem)),
            "{chip}: after step {i} of {} ({:?}) the half-written image is bootable",
            p.steps.len(),
            step_start(st)
        );
        if let (Step::Program { start, data }, None) = (st, c.write.page()) {
            let newly_valid = (0..cur.len()).step_by(BANK).skip(1).any(|a| {
                !crate::inference::bank_start_ok(before[a])
                    && crate::inference::bank_start_ok(mem[a])
            });
            assert!(
                !newly_valid || data.len() == 1,
                "{chip}: step {i} at {start:X} validates a bank start with {} bytes",
                data.len()
            );
        }
    }
    assert_eq!(mem, p.target);
}

#[test]
fn no_step_of_a_plan_leaves_a_bootable_half_written_image() {
    for chip in [
        "SST39VF080",
        "SST39SF040",
        "Am29F040B",
        "Am29LV800BB",
        "W29C020",
        "MX25L8005",
        "SST25VF080B",
        "PM25LV020",
    ] {
        let size = by_name(chip).unwrap().size as usize;
        let (cur, want) = images_with_banks(size, 3);
        // A new revision, one changed byte in a bank, one in bank 0, the boot too.
        assert_no_half_written_boot(chip, &cur, &want, false);
        assert_no_half_written_boot(chip, &cur, &want, true);
        for at in [0x23456 % size, 0x8123, size - 0x10 - BANK / 2] {
            let mut one = cur.clone();
            one[at] ^= 0x81;
            assert_no_half_written_boot(chip, &cur, &one, false);
        }
    }
}

#[test]
fn liteon_layout_images_use_the_liteon_marks_as_sentinels() {
    use crate::firmware::synth;
    for chip in [
        "SST39VF080",
        "Am29F040B",
        "W29C020",
        "MX25L8005",
        "SST25VF080B",
    ] {
        let size = by_name(chip).unwrap().size as usize;
        let spec = |rev: &str| synth::Spec {
            vendor: "LITE-ON".into(),
            product: "DVDRW SOHW-1673S".into(),
            revision: rev.into(),
            size,
        };
        let (cur, want) = (synth::liteon(&spec("JS01")), synth::liteon(&spec("JS0C")));
        let c = by_name(chip).unwrap();
        let p = plan(c, c.erasers, &cur, &want, false, &Cost::default());
        assert!(!p.sentinels.is_empty(), "{chip}");
        assert!(
            p.sentinels.iter().all(|m| [0x4000, 0xFFF8].contains(m)),
            "{chip}: {:X?}",
            p.sentinels
        );
        assert_no_half_written_boot(chip, &cur, &want, false);
        let mut one = cur.clone();
        one[size - 0x9000] ^= 0x41;
        if c.write.page().is_none() && c.erasers[0].unit_at(0).unwrap().1 as usize > BOOT_LEN {
            // Both LiteOn marks share the boot-code sector: guarding them would open
            // the boot-code window for a change elsewhere. No sentinel; the engine
            // warns (docs/inferences.md).
            let p = plan(c, c.erasers, &cur, &one, false, &Cost::default());
            assert!(p.sentinels.is_empty() && !p.is_empty(), "{chip}");
        } else {
            assert_no_half_written_boot(chip, &cur, &one, false);
        }
    }
}

#[test]
fn a_write_across_layouts_guards_the_rules_of_both() {
    use crate::firmware::synth;
    for chip in ["SST39VF080", "MX25L8005", "W29C020"] {
        let size = by_name(chip).unwrap().size as usize;
        let spec = |rev: &str| synth::Spec {
            vendor: "LITE-ON".into(),
            product: "DVDRW SOHW-1673S".into(),
            revision: rev.into(),
            size,
        };
        let liteon = synth::liteon(&spec("JS01"));
        let banked = synth::generate(&spec("JS0C"));
        assert_no_half_written_boot(chip, &liteon, &banked, false);
        assert_no_half_written_boot(chip, &banked, &liteon, false);
    }
}

#[test]
fn banks_are_written_from_the_top_down_with_each_start_byte_last() {
    let (cur, want) = images_with_banks(0x100000, 7);
    let c = by_name("SST39VF080").unwrap();
    let p = plan(c, c.erasers, &cur, &want, false, &Cost::default());
    // Programs outside the sentinels' banks, in order of appearance.
    let banks: Vec<u32> = p
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Program { .. }))
        .map(|s| step_start(s) / BANK as u32)
        .filter(|b| !p.sentinels.contains(&(b * BANK as u32)))
        .collect();
    let mut sorted = banks.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(banks, sorted, "top down");
    // Within each bank the start byte is programmed after everything else.
    for b in 1..16u32 {
        let idx: Vec<usize> = p
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| step_start(s) / BANK as u32 == b && matches!(s, Step::Program { .. }))
            .map(|(i, _)| i)
            .collect();
        let last = *idx.last().unwrap();
        assert!(
            matches!(&p.steps[last], Step::Program { start, data } if *start == b * BANK as u32 && data.len() == 1),
            "bank {b}"
        );
    }
}

#[test]
fn a_bank_start_that_is_invalid_now_is_a_free_sentinel() {
    // Blank chip: no erase at all; one bank's start byte is programmed last.
    let cur = vec![0xFF; 0x100000];
    let (want, _) = images_with_banks(0x100000, 3);
    let (p, out) = run("SST39VF080", &cur, &want, false);
    assert_eq!(out[BOOT_LEN..], want[BOOT_LEN..]);
    assert_eq!(p.erase_bytes, 0);
    assert_eq!(p.sentinels, [0xF0000]);
    assert!(
        matches!(p.steps.last(), Some(Step::Program { start: 0xF0000, data }) if data.len() == 1)
    );
}

#[test]
fn program_only_when_bits_only_clear() {
    let cur = vec![0xFF; 0x80000];
    let mut want = cur.clone();
    want[0x100] = 0x12;
    want[0x7FFFF] = 0x00;
    let (p, out) = run("SST39SF040", &cur, &want, true);
    assert_eq!(out, want);
    assert_eq!(p.erase_bytes, 0);
    assert_eq!(p.program_bytes, 2);
    assert_eq!(p.chip_time, Duration::from_micros(28));
}

#[test]
fn a_whole_changed_chip_uses_the_chip_or_block_erase() {
    let cur = vec![0x00; 0x100000];
    let want = vec![0x01; 0x100000];
    let (p, out) = run("SST39VF080", &cur, &want, true);
    assert_eq!(out, want);
    let n_erase = p
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Erase { .. }))
        .count();
    assert_eq!(n_erase, 1, "one chip erase beats 256 sector erases");
}

#[test]
fn boot_code_is_kept_without_write_boot() {
    let cur = vec![0x11; 0x80000];
    let want = vec![0x22; 0x80000];
    let (p, out) = run("SST39SF040", &cur, &want, false);
    assert!(out[..BOOT_LEN].iter().all(|&b| b == 0x11));
    assert!(out[BOOT_LEN..].iter().all(|&b| b == 0x22));
    assert!(
        !p.boot_erased,
        "4 KiB sectors: the boot code need not be touched"
    );
    assert!(!p.boot_changes);
    let (p2, out2) = run("SST39SF040", &cur, &want, true);
    assert_eq!(out2, want);
    assert!(p2.boot_changes);
}

#[test]
fn sixty_four_k_sector_chip_rewrites_kept_boot_code_first() {
    let cur = vec![0x11; 0x80000];
    let mut want = cur.clone();
    want[0x8000] = 0x33; // inside sector 0, outside the boot code
    let (p, out) = run("Am29LV040B", &cur, &want, false);
    assert!(p.boot_erased);
    assert_eq!(out[..BOOT_LEN], cur[..BOOT_LEN]);
    assert_eq!(out, {
        let mut w = want.clone();
        w[..BOOT_LEN].copy_from_slice(&cur[..BOOT_LEN]);
        w
    });
    // Erase of sector 0, then the program step covering 0x0000 comes before others
    // (bank starts hold no jump here: no sentinel needs erasing).
    assert!(matches!(p.steps[0], Step::Erase { start: 0, .. }));
    assert!(matches!(&p.steps[1], Step::Program { start: 0, .. }));
    assert_eq!(p.boot_steps.start, 0);
    // With jumps at every bank start, two sentinels are erased first.
    let (cur, _) = images_with_banks(0x80000, 3);
    let mut want = cur.clone();
    want[0x8000] ^= 0x33;
    let (p, _) = run("Am29LV040B", &cur, &want, false);
    assert!(matches!(&p.steps[0], Step::Program { data, .. } if data[..] == [0]));
    assert!(matches!(&p.steps[1], Step::Program { data, .. } if data[..] == [0]));
    assert!(matches!(p.steps[2], Step::Erase { start, .. } if start >= 0x10000));
    assert!(matches!(p.steps[3], Step::Erase { start, .. } if start >= 0x10000));
    assert!(matches!(p.steps[4], Step::Erase { start: 0, .. }));
    assert!(matches!(&p.steps[5], Step::Program { start: 0, .. }));
    assert_eq!(p.boot_steps.start, 4);
}

#[test]
fn page_write_chip_rewrites_changed_pages_only() {
    let cur = vec![0x11; 0x40000];
    let mut want = cur.clone();
    want[0x1000] = 0xFF;
    want[0x2005] = 0x00;
    let (p, out) = run("W29C020", &cur, &want, true);
    assert_eq!(out, want);
    // Bank starts hold no jump (0x11): bank 3's start is a free sentinel, so only
    // the two changed pages are written.
    assert_eq!(p.steps.len(), 2);
    assert_eq!(p.chip_time, Duration::from_millis(20));
    let (cur, mut want) = images_with_banks(0x40000, 3);
    want[..0x8000].copy_from_slice(&cur[..0x8000]);
    let (p, out) = run("W29C020", &cur, &want, true);
    assert_eq!(out, want);
    // Valid bank starts: each of the two sentinels' first pages is written with FF
    // at its start first, and whole at the end.
    let first_pages = p
        .steps
        .iter()
        .filter(|s| p.sentinels.contains(&step_start(s)))
        .count();
    assert_eq!(first_pages, 4);
    assert!(matches!(&p.steps[0], Step::Program { data, .. } if data[0] == 0xFF));
}

#[test]
fn nested_erasers_drop_a_layout_that_does_not_nest() {
    let c = by_name("SST25VF080B").unwrap();
    let n = nested_erasers(c.erasers);
    // 4K, 32K, 64K, one chip erase (the second chip-erase opcode adds nothing).
    assert_eq!(
        n.iter().map(|e| e.cmd).collect::<Vec<_>>(),
        [0x20, 0x52, 0xD8, 0x60]
    );
    let b = by_name("Am29LV800BB").unwrap();
    assert_eq!(nested_erasers(b.erasers).len(), 2);
}

#[test]
fn the_unit_check_catches_an_erase_the_layout_does_not_have() {
    let pt = by_name("A25L20PT").unwrap();
    let (cur, want) = images_with_banks(0x40000, 3);
    let p = plan(pt, pt.erasers, &cur, &want, false, &Cost::default());
    assert_eq!(p.check_units(pt), Ok(()));
    // A plan made for the uniform 64 KiB layout erases 0x30000..0x40000 in one go;
    // on the A25L20PT that D8 would erase only the 32 KiB unit.
    let uniform = by_name("PM25LV020").unwrap();
    let mut bad = p.clone();
    bad.steps.push(Step::Erase {
        eraser: pt.erasers[0],
        start: 0x30000,
        len: 0x10000,
    });
    assert!(bad.check_units(pt).unwrap_err().contains("not one unit"));
    let other = plan(
        uniform,
        uniform.erasers,
        &cur,
        &want,
        false,
        &Cost::default(),
    );
    assert!(other.check_units(pt).is_err());
}

#[test]
fn touched_ranges_merge() {
    let cur = vec![0x00; 0x80000];
    let mut want = cur.clone();
    want[0x5000] = 1;
    want[0x5001] = 1;
    let (p, _) = run("SST39SF040", &cur, &want, true);
    assert_eq!(p.touched(), vec![(0x5000, 0x1000)]);
}

fn arb_pair(size: usize) -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    // Mostly equal images with random sparse differences, so all plan shapes occur.
    (
        proptest::collection::vec(any::<u8>(), 64),
        proptest::collection::vec((0..size, any::<u8>()), 0..40),
        proptest::collection::vec((0..size, any::<u8>()), 0..40),
        any::<bool>(),
    )
        .prop_map(move |(pat, d1, d2, ff)| {
            let base: Vec<u8> = (0..size)
                .map(|i| if ff && i % 3 == 0 { 0xFF } else { pat[i % 64] })
                .collect();
            let mut a = base.clone();
            let mut b = base;
            for (i, v) in d1 {
                a[i] = v;
            }
            for (i, v) in d2 {
                b[i] = v;
            }
            (a, b)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_plan_yields_the_target(
        chip in prop::sample::select(vec!["SST39SF010A", "Am29F040B", "W29C020", "MX25L2005", "SST25VF040B", "Pm39LV010", "PM25LV020", "A25L20PT", "A25L20PU"]),
        seed_pair in arb_pair(0x20000),
        write_boot in any::<bool>(),
    ) {
        let c = by_name(chip).unwrap();
        let size = c.size as usize;
        let (mut cur, mut want) = seed_pair;
        cur.resize(size, 0xA5);
        want.resize(size, 0xA5);
        let p = plan(c, c.erasers, &cur, &want, write_boot, &Cost::default());
        prop_assert_eq!(p.check_units(c), Ok(()));
        let mut out = cur.clone();
        simulate(c, &p, &mut out);
        prop_assert_eq!(&out, &p.target);
        prop_assert_eq!(&out[BOOT_LEN..], &want[BOOT_LEN..]);
        if write_boot {
            prop_assert_eq!(&out[..BOOT_LEN], &want[..BOOT_LEN]);
        } else {
            prop_assert_eq!(&out[..BOOT_LEN], &cur[..BOOT_LEN]);
            // Without /b nothing touches the boot code unless an erase unit forces it.
            let min_unit = c.erasers[0].regions[0].size as usize;
            if min_unit <= BOOT_LEN && c.erasers[0].unit_at(0).unwrap().1 as usize <= BOOT_LEN {
                prop_assert!(!p.boot_erased);
                for s in &p.steps {
                    if let Step::Program { start, .. } = s { prop_assert!(*start as usize >= BOOT_LEN); }
                }
            }
        }
    }
}

#[test]
fn plan_owned_refuses_unequal_lengths_instead_of_panicking() {
    let c = by_name("SST39VF080").unwrap();
    let cur = vec![0xFF; c.size as usize];
    let e = plan_owned(c, c.erasers, &cur, vec![0; 0x1000], false, &Cost::default()).unwrap_err();
    assert!(e.contains("bytes"), "{e}");
    let ok = plan_owned(c, c.erasers, &cur, cur.clone(), false, &Cost::default()).unwrap();
    assert!(ok.is_empty());
}

#[test]
fn plan_owned_refuses_a_chip_without_usable_erasers() {
    let c = by_name("SST39VF080").unwrap();
    let cur = vec![0xFF; c.size as usize];
    let e = plan_owned(c, &[], &cur, cur.clone(), false, &Cost::default()).unwrap_err();
    assert!(e.contains("erase"), "{e}");
}

#[test]
fn destroyed_blocks_are_the_changed_blocks_that_hold_data() {
    let c = by_name("SST39SF040").unwrap();
    let mut cur = vec![0x5A; 0x80000];
    cur[0x20000..0x21000].fill(0xFF); // a blank block the image fills
    let mut want = cur.clone();
    want[0x20000..0x21000].fill(0x11);
    want[0x30010] = 0x5B; // a 0 turned into 1: that sector is erased
    want[0x40005] = 0x58; // only a 1 turned into 0: programmed, no erase
    let p = plan(c, c.erasers, &cur, &want, false, &Cost::default());
    let got = destroyed_blocks(c, &p.steps, &cur, 0x1000);
    assert!(got.contains(&0x30000), "{got:X?}");
    assert!(
        got.contains(&0x40000),
        "a byte programmed over data: {got:X?}"
    );
    assert!(
        !got.contains(&0x20000),
        "a blank block needs no confirmation: {got:X?}"
    );
    assert!(
        !got.contains(&0x50000),
        "an untouched block is not listed: {got:X?}"
    );
    // Every listed block is one the plan changes and holds data.
    for b in &got {
        let r = *b as usize..*b as usize + 0x1000;
        assert!(cur[r.clone()].iter().any(|&x| x != 0xFF));
        assert!(
            touched_by(&p.steps)
                .iter()
                .any(|(s, l)| (*s as usize) < r.end && r.start < (*s + *l) as usize),
            "{b:X} is not touched"
        );
    }
    // A block whose only change lands on a byte misread as FF is still confirmed whole.
    let mut misread = cur.clone();
    misread[0x60007] = 0xFF;
    let mut want2 = cur.clone();
    want2[0x60007] = 0xFE;
    let p = plan(c, c.erasers, &misread, &want2, false, &Cost::default());
    assert!(destroyed_blocks(c, &p.steps, &misread, 0x1000).contains(&0x60000));
}

#[test]
fn bytes_a_byte_program_proved_are_not_read_back_again() {
    let cur = vec![0x00; 0x80000];
    let mut want = cur.clone();
    want[0x30000..0x30800].fill(0x12); // needs an erase; the rest of the sector stays FF
    want[0x30800..0x31000].fill(0xFF);
    for (chip, proved) in [("SST39SF040", true), ("MX25L4005", false)] {
        let c = by_name(chip).unwrap();
        let p = plan(c, c.erasers, &cur, &want, false, &Cost::default());
        let mut flash = cur.clone();
        let ranges = read_back_ranges(c, &p.steps, &mut flash);
        let covers = |a: u32| ranges.iter().any(|(s, l)| (*s..*s + *l).contains(&a));
        assert!(
            covers(0x30900),
            "{chip}: an erased byte left FF is read back"
        );
        assert_eq!(!covers(0x30100), proved, "{chip}: {ranges:X?}");
        if proved {
            assert_eq!(
                flash[0x30100], 0x12,
                "the proved value stands in for the read"
            );
            assert!(ranges.iter().all(|(s, l)| touched_by(&p.steps)
                .iter()
                .any(|(ts, tl)| *ts <= *s && s + l <= ts + tl)));
        } else {
            assert_eq!(ranges, touched_by(&p.steps));
        }
    }
}

#[test]
fn a_program_reads_back_what_its_driver_sent_and_nothing_it_skipped() {
    // FF -> 00 at two places 0x20 apart, no erase: one program span. A byte-programming
    // SPI chip is sent the two bytes only; a page-programming one the span between them
    // (FF bytes sent can arrive as something else); AAI the two words.
    for (chip, expect) in [
        ("SST25LF020", vec![(0x21000, 1), (0x21021, 1)]),
        ("MX25L2005", vec![(0x21000, 0x22)]),
        ("SST25VF040B", vec![(0x21000, 2), (0x21020, 2)]),
    ] {
        let c = by_name(chip).unwrap();
        let cur = vec![0xFF; c.size as usize];
        let mut want = cur.clone();
        want[0x21000] = 0x00;
        want[0x21021] = 0x00;
        let p = plan_unordered(c, c.erasers, &cur, &want, false, &Cost::default());
        assert!(p.steps.iter().all(|s| matches!(s, Step::Program { .. })));
        let mut flash = cur.clone();
        let ranges = read_back_ranges(c, &p.steps, &mut flash);
        assert_eq!(ranges, expect, "{chip}: {:X?}", p.steps);
    }
    let cur = vec![0xFF; 0x80000];
    let mut want = cur.clone();
    want[0x21000] = 0x00;
    want[0x21020] = 0x00;
    // A page-write chip rewrites its page whole: all of it is read back.
    let w = by_name("W29C020").unwrap();
    let p = plan_unordered(
        w,
        w.erasers,
        &cur[..0x40000],
        &want[..0x40000],
        false,
        &Cost::default(),
    );
    let mut flash = cur[..0x40000].to_vec();
    let ranges = read_back_ranges(w, &p.steps, &mut flash);
    assert_eq!(ranges, touched_by(&p.steps));
}

#[test]
fn programs_over_unerased_data_are_found_for_confirmation() {
    let c = by_name("SST39SF040").unwrap();
    let mut cur = vec![0x5A; 0x80000];
    cur[0x20000..0x21000].fill(0xFF);
    let mut want = cur.clone();
    want[0x20000..0x21000].fill(0x11); // blank block filled: rests on nothing
    want[0x30010] = 0x5B; // erased: rewritten from the image whatever it held
    want[0x40005] = 0x58; // programmed over data without an erase
    let p = plan(c, c.erasers, &cur, &want, false, &Cost::default());
    let got = programmed_unerased_blocks(c, &p.steps, &cur, 0x1000);
    assert!(got.contains(&0x40000), "{got:X?}");
    assert!(!got.contains(&0x30000), "{got:X?}");
    assert!(!got.contains(&0x20000), "{got:X?}");
    // A page-write chip replaces pages whole: nothing rests on the read.
    let w = by_name("W29C020").unwrap();
    let p = plan(
        w,
        w.erasers,
        &cur[..0x40000],
        &want[..0x40000],
        false,
        &Cost::default(),
    );
    assert!(programmed_unerased_blocks(w, &p.steps, &cur[..0x40000], 0x1000).is_empty());
}

#[test]
fn every_finest_erase_unit_is_whole_program_units() {
    // The planner counts a unit's program units from the unit's own start
    // (erase::erase_program_steps): that is the chip's program units only when every
    // finest unit starts and ends on a program-unit boundary.
    for c in crate::chips::CHIPS.iter() {
        let Some(finest) = nested_erasers(c.erasers).into_iter().next() else {
            continue;
        };
        let pu = c.program_unit();
        for (s, l) in finest.units() {
            assert!(
                s % pu == 0 && l % pu == 0,
                "{}: unit 0x{s:X}+0x{l:X}, program unit {pu}",
                c.name
            );
        }
    }
}
