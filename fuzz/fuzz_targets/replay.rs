//! The replay reader on arbitrary bytes: open, play every frame, seek.
//! Never a panic; only clear errors.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tickforge_shared::replay::Replay;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut replay) = Replay::new(Cursor::new(data)) {
        let mut frames = 0u32;
        while let Some(state) = replay.next_state() {
            if state.is_err() || frames > 10_000 {
                break;
            }
            frames += 1;
        }
        let (first, last) = (replay.first_tick(), replay.last_tick());
        let _ = replay.seek(first.wrapping_add(last.wrapping_sub(first) / 2));
    }
});
