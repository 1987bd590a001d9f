//! Percentages kept as exact integers (hundredths of a percent), so a group
//! sitting exactly on its threshold passes: no floating-point rounding can turn
//! 80% into 79.999…%.

use std::fmt;

/// Why a `min_lines` value is not usable as a threshold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    /// Negative, above 100 or not a number.
    #[error("{0} is not a percentage between 0 and 100")]
    OutOfRange(f64),
    /// More than two decimals would be compared with a rounding we do not show.
    #[error("{0} has more than two decimals")]
    TooPrecise(f64),
}

/// A minimum line coverage, in hundredths of a percent (8000 = 80%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(u32);

/// 100% in hundredths of a percent.
const FULL: u32 = 10_000;

impl Threshold {
    /// Reads a percentage such as `80` or `82.5` from the gates file.
    pub fn from_percent(percent: f64) -> Result<Self, ThresholdError> {
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return Err(ThresholdError::OutOfRange(percent));
        }
        let scaled = percent * 100.0;
        let rounded = scaled.round();
        if (scaled - rounded).abs() > 1e-6 {
            return Err(ThresholdError::TooPrecise(percent));
        }
        // In range 0..=10_000 and integral, so the conversion is exact.
        Ok(Self(rounded as u32))
    }

    /// The threshold in hundredths of a percent.
    pub fn hundredths(self) -> u32 {
        self.0
    }

    /// Whether `covered` of `lines` reaches the threshold (equal passes).
    pub fn is_met(self, covered: u64, lines: u64) -> bool {
        u128::from(covered) * u128::from(FULL) >= u128::from(self.0) * u128::from(lines)
    }

    /// How many more lines must be covered to reach the threshold: the number
    /// a developer actually has to act on.
    pub fn missing_lines(self, covered: u64, lines: u64) -> u64 {
        let needed = (u128::from(self.0) * u128::from(lines)).div_ceil(u128::from(FULL));
        let missing = needed.saturating_sub(u128::from(covered));
        u64::try_from(missing).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        match frac {
            0 => write!(f, "{whole}%"),
            f2 if f2 % 10 == 0 => write!(f, "{whole}.{}%", f2 / 10),
            f2 => write!(f, "{whole}.{f2:02}%"),
        }
    }
}

/// `covered / lines` as a percentage with two decimals, rounded *down* so a
/// failing group never displays a value equal to its threshold; `-` when
/// there is nothing to measure.
pub fn format_ratio(covered: u64, lines: u64) -> String {
    if lines == 0 {
        return "-".to_owned();
    }
    let hundredths = u128::from(covered) * u128::from(FULL) / u128::from(lines);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_at_threshold_passes() {
        let t = Threshold::from_percent(80.0).unwrap();
        assert!(t.is_met(8, 10));
        assert!(t.is_met(800, 1000));
        assert!(!t.is_met(7999, 10000));
        assert!(t.is_met(8000, 10000));
    }

    #[test]
    fn decimal_threshold_has_no_float_drift() {
        let t = Threshold::from_percent(82.3).unwrap();
        assert_eq!(t.hundredths(), 8230);
        assert!(t.is_met(823, 1000));
        assert!(!t.is_met(822, 1000));
    }

    #[test]
    fn bounds_and_precision_are_checked() {
        assert!(Threshold::from_percent(0.0).is_ok());
        assert!(Threshold::from_percent(100.0).is_ok());
        assert_eq!(
            Threshold::from_percent(100.5),
            Err(ThresholdError::OutOfRange(100.5))
        );
        assert!(matches!(
            Threshold::from_percent(-1.0),
            Err(ThresholdError::OutOfRange(_))
        ));
        assert!(matches!(
            Threshold::from_percent(f64::NAN),
            Err(ThresholdError::OutOfRange(_))
        ));
        assert_eq!(
            Threshold::from_percent(80.125),
            Err(ThresholdError::TooPrecise(80.125))
        );
    }

    #[test]
    fn missing_lines_rounds_up() {
        let t = Threshold::from_percent(70.0).unwrap();
        assert_eq!(t.missing_lines(1000, 1500), 50);
        assert_eq!(t.missing_lines(6, 10), 1);
        assert_eq!(t.missing_lines(7, 10), 0);
        let t = Threshold::from_percent(90.0).unwrap();
        // 90% of 11 lines is 9.9: ten lines are needed.
        assert_eq!(t.missing_lines(9, 11), 1);
    }

    #[test]
    fn display() {
        assert_eq!(Threshold::from_percent(80.0).unwrap().to_string(), "80%");
        assert_eq!(Threshold::from_percent(82.5).unwrap().to_string(), "82.5%");
        assert_eq!(
            Threshold::from_percent(82.25).unwrap().to_string(),
            "82.25%"
        );
        assert_eq!(format_ratio(2, 3), "66.66");
        assert_eq!(format_ratio(8, 10), "80.00");
        assert_eq!(format_ratio(0, 0), "-");
        assert_eq!(format_ratio(7999, 10000), "79.99");
    }
}
