//! Kernels agree with a scalar f64 reference on every length, including odd tails.

use engram_vector::kernel;

use crate::common::TestRng;

fn scalar_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

fn scalar_l2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum()
}

fn close(got: f32, want: f64, scale: f64) -> bool {
    (f64::from(got) - want).abs() <= 1e-5 * scale.max(1.0)
}

#[test]
fn kernels_match_scalar_on_odd_lengths() {
    let mut rng = TestRng::new(7);
    let lengths = (0..=80).chain([127, 255, 383, 384, 385, 1000, 4096]);
    for len in lengths {
        let a: Vec<f32> = (0..len).map(|_| rng.normal()).collect();
        let b: Vec<f32> = (0..len).map(|_| rng.normal()).collect();
        let scale = len as f64;
        let (d, l) = (scalar_dot(&a, &b), scalar_l2(&a, &b));
        assert!(close(kernel::dot(&a, &b), d, scale), "dot len {len}");
        assert!(close(kernel::dot_portable(&a, &b), d, scale), "portable dot len {len}");
        assert!(close(kernel::l2_sq(&a, &b), l, scale), "l2 len {len}");
        assert!(close(kernel::l2_sq_portable(&a, &b), l, scale), "portable l2 len {len}");
    }
}

#[test]
fn kernels_use_every_element() {
    // A single non-zero element at each position catches skipped tails and chunk offsets.
    for len in [1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100] {
        for pos in 0..len {
            let mut a = vec![0.0f32; len];
            a[pos] = 2.0;
            let b = vec![3.0f32; len];
            assert_eq!(kernel::dot(&a, &b), 6.0, "len {len} pos {pos}");
            assert_eq!(kernel::l2_sq(&a, &vec![0.0; len]), 4.0, "len {len} pos {pos}");
        }
    }
}

#[test]
fn kernels_ignore_the_longer_tail() {
    let a = [1.0f32, 2.0, 3.0];
    let b = [1.0f32, 1.0, 1.0, 100.0];
    assert_eq!(kernel::dot(&a, &b), 6.0);
    assert_eq!(kernel::l2_sq(&a, &b), 5.0);
}
