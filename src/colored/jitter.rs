//! How a jittered color channel `mean/255 + σ·z` is brought back into [0, 1].
//!
//! docs/SPEC.md §1 writes `clip(·, 0, 1)`, but the authors' released file fits a normal reflected at
//! the bounds better: in its first ten training images, all six channels whose class mean is 0
//! are positive (22–54 of 255), which clipping makes exactly 0 half of the time (chance 1/64).
//! See `docs/REPRODUCTION.md` for the measurements behind the default.

use serde::{Deserialize, Serialize};

/// The rule that maps a jittered channel value into [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum JitterRule {
    /// Reflect at the bounds: `c → −c` below 0, `c → 2 − c` above 1 (the default: it fits the
    /// authors' released samples).
    #[default]
    Reflect,
    /// Clip to the bounds: `c → clamp(c, 0, 1)` (docs/SPEC.md's formula).
    Clip,
}

impl JitterRule {
    /// Maps `c` into [0, 1]. Reflection folds repeatedly (a triangle wave of period 2), so any
    /// finite value lands inside.
    pub fn apply(self, c: f64) -> f64 {
        match self {
            JitterRule::Clip => c.clamp(0.0, 1.0),
            JitterRule::Reflect => {
                let t = c.rem_euclid(2.0);
                if t > 1.0 { 2.0 - t } else { t }
            }
        }
    }

    /// Lower-case name, as in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            JitterRule::Reflect => "reflect",
            JitterRule::Clip => "clip",
        }
    }

    /// Parses [`JitterRule::name`].
    pub fn from_name(name: &str) -> Option<JitterRule> {
        [JitterRule::Reflect, JitterRule::Clip]
            .into_iter()
            .find(|r| r.name() == name)
    }

    /// Mean and standard deviation of `apply(mu + sigma·z)` for z ~ N(0, 1): what a channel of
    /// the jittered colors should show. Computed by the trapezoid rule over ±8σ.
    pub fn moments(self, mu: f64, sigma: f64) -> (f64, f64) {
        if sigma == 0.0 {
            return (self.apply(mu), 0.0);
        }
        const STEPS: usize = 4000;
        let (lo, hi) = (-8.0, 8.0);
        let h = (hi - lo) / STEPS as f64;
        let (mut m1, mut m2) = (0.0, 0.0);
        for i in 0..=STEPS {
            let z: f64 = lo + i as f64 * h;
            let weight = if i == 0 || i == STEPS { 0.5 } else { 1.0 };
            let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let v = self.apply(mu + sigma * z);
            m1 += weight * h * density * v;
            m2 += weight * h * density * v * v;
        }
        (m1, (m2 - m1 * m1).max(0.0).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn rules_map_into_the_unit_interval() {
        assert_eq!(JitterRule::Clip.apply(-0.2), 0.0);
        assert_eq!(JitterRule::Clip.apply(1.3), 1.0);
        assert!((JitterRule::Reflect.apply(-0.2) - 0.2).abs() < 1e-12);
        assert!((JitterRule::Reflect.apply(1.3) - 0.7).abs() < 1e-12);
        assert!((JitterRule::Reflect.apply(2.25) - 0.25).abs() < 1e-12);
        assert!((JitterRule::Reflect.apply(-1.75) - 0.25).abs() < 1e-12);
        for rule in [JitterRule::Reflect, JitterRule::Clip] {
            assert_eq!(rule.apply(0.4), 0.4);
            assert_eq!(JitterRule::from_name(rule.name()), Some(rule));
        }
    }

    #[test]
    fn moments_of_both_rules() {
        for rule in [JitterRule::Reflect, JitterRule::Clip] {
            let (m, s) = rule.moments(0.5, 0.1);
            assert!((m - 0.5).abs() < 1e-6 && (s - 0.1).abs() < 1e-4, "{rule:?}");
        }
        // Clip at mean 0: half the mass at 0; mean σ/√(2π), std σ·√(1/2 − 1/(2π)).
        let (m, s) = JitterRule::Clip.moments(0.0, 0.2);
        assert!((m - 0.2 / (2.0 * PI).sqrt()).abs() < 1e-5);
        assert!((s - 0.2 * (0.5 - 1.0 / (2.0 * PI)).sqrt()).abs() < 1e-5);
        // Reflect at mean 0: the half-normal |σz|; mean σ·√(2/π), std σ·√(1 − 2/π).
        let (m, s) = JitterRule::Reflect.moments(0.0, 0.2);
        assert!((m - 0.2 * (2.0 / PI).sqrt()).abs() < 1e-5);
        assert!((s - 0.2 * (1.0 - 2.0 / PI).sqrt()).abs() < 1e-5);
    }
}
