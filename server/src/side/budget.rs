//! The process's file descriptors, split so that HTTP clients can never
//! take the ones the tick, the game socket and the database need.
//!
//! At start the soft open-file limit is raised to the hard one. Of that
//! limit, [`CORE_RESERVE`] plus the WebSocket links the game may hold are
//! kept for the core (the UDP socket, the store's and the watch's
//! database connections, the replay file, logs, the runtime's own); the
//! HTTP listeners' connection bounds together get only what is left, scaled
//! down when the configured bounds do not fit. A listener never holds more
//! than its bound (its accept loop closes the rest at once), so the sum of
//! the bounds is all HTTP can ever hold.

/// Descriptors kept for everything that is not an HTTP connection or a
/// game WebSocket link.
pub const CORE_RESERVE: u64 = 256;

/// The least a listener is left with when bounds are scaled down.
pub const MIN_PER_LISTENER: usize = 8;

/// Raises the soft open-file limit to the hard one (logged) and answers
/// the limit in force.
pub fn raise_open_files() -> u64 {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(1024);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            if limit != before {
                tracing::info!(from = before, to = limit, "open-file limit raised to its hard limit");
            } else {
                tracing::info!(limit, "open-file limit (already at its hard limit)");
            }
            limit
        }
        Err(e) => {
            tracing::warn!(limit = before, error = %e, "cannot raise the open-file limit");
            before
        }
    }
}

/// The descriptors left for HTTP after `core`, shared by the listeners
/// that want `wanted` connections each: the same bounds when they fit,
/// else scaled down in proportion (each at least [`MIN_PER_LISTENER`]).
/// `None` when even the least does not fit.
pub fn fit(limit: u64, core: u64, wanted: &[usize]) -> Option<Vec<usize>> {
    // One more each: a connection beyond a bound is accepted before it is closed.
    let room = limit.checked_sub(core + wanted.len() as u64)?;
    let asked: u64 = wanted.iter().map(|w| *w as u64).sum();
    if asked <= room {
        return Some(wanted.to_vec());
    }
    if room < (MIN_PER_LISTENER * wanted.len()) as u64 {
        return None;
    }
    let fitted: Vec<usize> = wanted
        .iter()
        .map(|w| ((*w as u128 * u128::from(room) / u128::from(asked.max(1))) as usize).max(MIN_PER_LISTENER))
        .collect();
    // Rounding up to the floor can overshoot by a few: take them from the largest.
    let mut fitted = fitted;
    while fitted.iter().map(|f| *f as u64).sum::<u64>() > room {
        let largest = fitted.iter_mut().max()?;
        *largest -= 1;
    }
    Some(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_that_fit_stay_and_others_shrink_within_the_limit() {
        assert_eq!(fit(20_000, 2_304, &[2048, 128, 2048]), Some(vec![2048, 128, 2048]));
        let fitted = fit(2_048, 256 + 1024, &[2048, 128, 1024]).unwrap();
        let sum: usize = fitted.iter().sum();
        assert!(sum as u64 <= 2_048 - 256 - 1024 - 3, "{fitted:?}");
        assert!(fitted.iter().all(|f| *f >= MIN_PER_LISTENER), "{fitted:?}");
        assert!(fitted[0] > fitted[1], "in proportion: {fitted:?}");
        assert_eq!(fit(300, 290, &[64, 64]), None, "not even the least fits");
        assert_eq!(fit(100, 400, &[64]), None);
    }
}
