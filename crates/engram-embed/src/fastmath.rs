//! Branch-free `exp` and `erf` for whole rows (softmax, GELU), accurate to
//! a few parts in 10⁷: written so the compiler vectorizes them, where the
//! library calls run one value at a time and were a quarter of the model's
//! time. GELU over a whole matrix is also compiled for AVX2 and FMA, used
//! when the CPU has them (checked at run time; the baseline x86-64 target
//! only vectorizes 4 wide).
#![allow(unsafe_code)]

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two so `n · ln2` subtracts without rounding error.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Adding and subtracting 1.5 · 2²³ rounds a float to the nearest integer.
const ROUNDER: f32 = 12_582_912.0;

/// e^x: x = n·ln2 + f with |f| ≤ ln2/2, e^f by its Taylor series to the
/// 6th power (relative error below 2·10⁻⁷), 2^n built in the exponent bits.
#[inline]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUNDER) - ROUNDER;
    let f = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // n + 127 sits in the low mantissa bits of ROUNDER + n + 127 (integer
    // arithmetic only: a float-to-int cast saturates and stays scalar).
    let biased = (n + (ROUNDER + 127.0)).to_bits().wrapping_sub(ROUNDER.to_bits());
    let scale = f32::from_bits(biased << 23);
    p * scale
}

/// erf(x) by Abramowitz and Stegun 7.1.26 (absolute error below 1.5·10⁻⁷
/// in exact arithmetic, 10⁻⁶ in f32 near zero).
#[inline]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// GELU as BERT defines it: `x · Φ(x)` with the exact normal CDF.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU of every value, in place.
pub fn gelu_all(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { gelu_all_avx2(x) };
        return;
    }
    x.iter_mut().for_each(|v| *v = gelu(*v));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gelu_all_avx2(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = gelu(*v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_close_to_the_library_over_its_range() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(((got - want) / want).abs() < 5e-7, "exp({x}) = {got}, want {want}");
            x += 0.173;
        }
        assert!((exp(-1000.0) / (-87.0f32).exp() - 1.0).abs() < 5e-7, "clamped below");
    }

    #[test]
    fn gelu_of_a_matrix_matches_one_value_at_a_time() {
        let mut xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 97.0).collect();
        let want: Vec<f32> = xs.iter().map(|&x| gelu(x)).collect();
        gelu_all(&mut xs);
        for (g, w) in xs.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{g} vs {w}");
        }
    }

    #[test]
    fn erf_is_close_to_the_library() {
        let mut x = -6.0f32;
        while x < 6.0 {
            let (got, want) = (erf(x), libm::erff(x));
            assert!((got - want).abs() < 1e-6, "erf({x}) = {got}, want {want}");
            x += 0.0137;
        }
        assert!(erf(0.0).abs() < 1e-6 && erf(6.0) == 1.0 && erf(-6.0) == -1.0);
    }
}
