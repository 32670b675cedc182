//! What both benchmarks' tables do with their runs: group them by a key, and find the cells of
//! the grid the runs span (every setting × method × seed seen) that have no run.

use std::collections::BTreeSet;

/// `runs` grouped by `key`, in the keys' order.
pub fn group_by<T, K: Ord + Clone>(runs: &[T], key: impl Fn(&T) -> K) -> Vec<(K, Vec<&T>)> {
    let keys: BTreeSet<K> = runs.iter().map(&key).collect();
    keys.into_iter()
        .map(|k| {
            let members = runs.iter().filter(|r| key(r) == k).collect();
            (k, members)
        })
        .collect()
}

/// The (setting, method, seed) combinations of the settings, methods and seeds seen in `runs`
/// (as `cell` reads them) that no run has, in that order.
pub fn missing_cells<T, S: Ord + Clone, M: Ord + Clone>(
    runs: &[T],
    cell: impl Fn(&T) -> (S, M, u64),
) -> Vec<(S, M, u64)> {
    let present: BTreeSet<(S, M, u64)> = runs.iter().map(&cell).collect();
    let settings: BTreeSet<S> = present.iter().map(|c| c.0.clone()).collect();
    let methods: BTreeSet<M> = present.iter().map(|c| c.1.clone()).collect();
    let seeds: BTreeSet<u64> = present.iter().map(|c| c.2).collect();
    let mut missing = Vec::new();
    for setting in &settings {
        for method in &methods {
            for &seed in &seeds {
                let wanted = (setting.clone(), method.clone(), seed);
                if !present.contains(&wanted) {
                    missing.push(wanted);
                }
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_keys_order() {
        let runs = [(2, 'a'), (1, 'b'), (2, 'c')];
        let groups = group_by(&runs, |r| r.0);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].0, groups[0].1.clone()), (1, vec![&(1, 'b')]));
        assert_eq!(
            (groups[1].0, groups[1].1.clone()),
            (2, vec![&(2, 'a'), &(2, 'c')])
        );
    }

    /// Two settings, two methods, seeds 0 and 1: of the eight cells, the three without a run.
    #[test]
    fn missing_cells_span_every_setting_method_and_seed_seen() {
        let runs = [
            (1, "a", 0),
            (1, "b", 1),
            (2, "a", 1),
            (2, "b", 0),
            (2, "b", 1),
        ];
        assert_eq!(
            missing_cells(&runs, |r| *r),
            vec![(1, "a", 1), (1, "b", 0), (2, "a", 0)]
        );
    }
}
