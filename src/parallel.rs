//! Work spread over the cores, when there is enough of it to pay for the
//! threads. Rayon starts its pool on first use: for a small scenario (Bookinfo
//! renders at most seven documents of a kind) that start-up, and its idle
//! threads spinning beside the main one on a two-core runner, cost more than
//! they save.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

/// The fewest items worth handing to the thread pool.
const PARALLEL_FROM: usize = 64;

/// `f` of every item, in the items' order: on every core for `PARALLEL_FROM`
/// items or more, on the calling thread below that.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    if items.len() < PARALLEL_FROM {
        items.iter().map(f).collect()
    } else {
        items.par_iter().map(f).collect()
    }
}

/// `f` of every item, in the items' order, or the first error in that order
/// (the same error whatever the threads do: every item before it runs).
/// Once an item fails, no item after it starts, so a failing run costs about
/// the work up to the failure, not that of every item: a template stopped by
/// its fuel budget after seconds must not be run again for each document.
pub fn try_map<T: Sync, R: Send, E: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, E> + Sync + Send,
) -> Result<Vec<R>, E> {
    if items.len() < PARALLEL_FROM {
        return items.iter().map(f).collect();
    }
    // The lowest index that failed so far: it only decreases, and every item
    // skipped comes after an item that failed, so the first error in order is
    // among the items that ran.
    let first_failure = AtomicUsize::new(usize::MAX);
    let results: Vec<Option<Result<R, E>>> = items
        .par_iter()
        .enumerate()
        .map(|(i, item)| {
            if i > first_failure.load(Ordering::Relaxed) {
                return None;
            }
            let result = f(item);
            if result.is_err() {
                first_failure.fetch_min(i, Ordering::Relaxed);
            }
            Some(result)
        })
        .collect();
    // Sized once: collected from `flatten`, which cannot tell how many
    // items it holds, the list would grow by doubling.
    let mut done = Vec::with_capacity(results.len());
    for result in results.into_iter().flatten() {
        done.push(result?);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_map_returns_the_first_error_in_order_and_skips_the_items_after_it() {
        for len in [PARALLEL_FROM - 1, 10 * PARALLEL_FROM] {
            let items: Vec<usize> = (0..len).collect();
            let ran = AtomicUsize::new(0);
            let result = try_map(&items, |&i| {
                ran.fetch_add(1, Ordering::Relaxed);
                if i >= 5 { Err(i) } else { Ok(i) }
            });
            assert_eq!(result, Err(5), "{len} items");
            // Each core may start one failing item before it sees a failure.
            assert!(ran.load(Ordering::Relaxed) < 5 + 64, "{len} items: {ran:?}");
            assert_eq!(
                try_map(&items, |&i| Ok::<_, ()>(2 * i)),
                Ok((0..len).map(|i| 2 * i).collect())
            );
        }
    }

    #[test]
    fn keeps_the_order_of_the_items_on_either_side_of_the_threshold() {
        for len in [0, 1, PARALLEL_FROM - 1, PARALLEL_FROM, 10 * PARALLEL_FROM] {
            let items: Vec<usize> = (0..len).collect();
            let doubled: Vec<usize> = (0..len).map(|i| 2 * i).collect();
            assert_eq!(map(&items, |i| 2 * i), doubled, "{len} items");
        }
    }
}
