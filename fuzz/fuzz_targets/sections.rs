//! Fuzz target: any text through both readings of a scenario file. The
//! section-at-a-time reading (`scenario/sections.rs`, for files of 1 MiB or
//! more) must decline the text or read it exactly as the whole reading does:
//! the same raw scenario, spans and warnings; nothing may panic. The size
//! threshold is not applied here, so small inputs reach it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    meshgen::scenario::assert_sections_agree(&text);
});
