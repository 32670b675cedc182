//! Which color each digit gets: LfF assigns colors deterministically, class by class in MNIST
//! order. Class c's color distribution puts `aligned` on color c and `(1 − aligned) / 9` on each
//! other color; with `n_c` the class's count, the milestones are `round(n_c · cumsum(probs))`
//! (numpy's rounding, half to even), and the k-th digit of the class (from 0) takes the first
//! color whose milestone exceeds k. Each class is thus cut into ten contiguous runs in color
//! order 0..9.

use crate::data::mnist::CLASSES;

/// The milestones of class `class` of `count` digits: digit k takes the first color j with
/// `milestones[j] > k`.
fn milestones(class: usize, count: usize, aligned: f64) -> [f64; CLASSES] {
    // numpy: aligned·I + (1 − aligned)/(classes − 1)·(1 − I), then a running sum along the row.
    let other = (1.0 - aligned) / (CLASSES - 1) as f64;
    let mut sum = 0.0;
    std::array::from_fn(|j| {
        sum += if j == class { aligned } else { other };
        (count as f64 * sum).round_ties_even()
    })
}

/// The color index of every digit of `labels` (classes 0..9) when a fraction `aligned` of each
/// class takes its own color.
pub fn assign_colors(labels: &[u8], aligned: f64) -> Vec<u8> {
    let mut counts = [0usize; CLASSES];
    for &l in labels {
        counts[usize::from(l)] += 1;
    }
    let milestones: Vec<[f64; CLASSES]> = (0..CLASSES)
        .map(|c| milestones(c, counts[c], aligned))
        .collect();
    let mut seen = [0usize; CLASSES];
    labels
        .iter()
        .map(|&l| {
            let class = usize::from(l);
            let k = seen[class] as f64;
            seen[class] += 1;
            // The last milestone is n_c (the probabilities sum to 1), so some color is found;
            // a class whose rounding fell short keeps the last color, as numpy's
            // `np.min(np.nonzero(...))` would fail there instead.
            milestones[class]
                .iter()
                .position(|&m| m > k)
                .unwrap_or(CLASSES - 1) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 digits of class 3 at 95 % aligned: milestones round(100 · cumsum) with 5/9 % on each
    /// other color: 0.556 → 1, 1.11 → 1, 1.67 → 2, 96.67 → 97, 97.2 → 97, 97.8 → 98, 98.3 → 98,
    /// 98.9 → 99, 99.4 → 99, 100. So: color 0 once, color 2 once, color 3 95 times, then
    /// colors 5, 7 and 9 once each.
    #[test]
    fn one_class_by_hand() {
        let colors = assign_colors(&[3; 100], 0.95);
        let mut counts = [0; 10];
        for &c in &colors {
            counts[usize::from(c)] += 1;
        }
        assert_eq!(counts, [1, 0, 1, 95, 0, 1, 0, 1, 0, 1]);
        assert_eq!(&colors[..3], &[0, 2, 3], "runs in color order");
        assert_eq!(&colors[97..], &[5, 7, 9]);
    }

    #[test]
    fn classes_are_assigned_independently_in_their_own_order() {
        let labels: Vec<u8> = (0..200).map(|i| (i % 2) as u8).collect();
        let colors = assign_colors(&labels, 0.1);
        for class in 0..2u8 {
            let of_class: Vec<u8> = labels
                .iter()
                .zip(&colors)
                .filter(|(l, _)| **l == class)
                .map(|(_, c)| *c)
                .collect();
            // 100 digits spread evenly: ten of each color, in color order.
            let expected: Vec<u8> = (0..10).flat_map(|c| [c; 10]).collect();
            assert_eq!(of_class, expected, "class {class}");
        }
    }
}
