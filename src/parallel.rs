//! Work spread over the cores, when there is enough of it to pay for the
//! threads. Rayon starts its pool on first use: for a small scenario (Bookinfo
//! renders at most seven documents of a kind) that start-up, and its idle
//! threads spinning beside the main one on a two-core runner, cost more than
//! they save.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_of_the_items_on_either_side_of_the_threshold() {
        for len in [0, 1, PARALLEL_FROM - 1, PARALLEL_FROM, 10 * PARALLEL_FROM] {
            let items: Vec<usize> = (0..len).collect();
            let doubled: Vec<usize> = (0..len).map(|i| 2 * i).collect();
            assert_eq!(map(&items, |i| 2 * i), doubled, "{len} items");
        }
    }
}
