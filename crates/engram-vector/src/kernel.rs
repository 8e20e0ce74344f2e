//! Distance kernels: a portable version LLVM auto-vectorizes and AVX2+FMA versions chosen once at runtime.
#![allow(unsafe_code)]

use std::sync::OnceLock;

/// A kernel over two equally long slices (extra elements of the longer one are ignored).
pub type KernelFn = fn(&[f32], &[f32]) -> f32;

/// The kernels chosen for this CPU.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub(crate) dot: KernelFn,
    pub(crate) l2_sq: KernelFn,
}

/// Lanes of the portable kernels: 16 independent accumulators let LLVM emit wide vector code
/// without reassociating floating-point sums (which it may not do on its own).
const LANES: usize = 16;

/// The kernels for this CPU, detected once per process.
pub(crate) fn kernels() -> Kernels {
    static CHOSEN: OnceLock<Kernels> = OnceLock::new();
    *CHOSEN.get_or_init(detect)
}

fn detect() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Kernels { dot: x86::dot_avx2, l2_sq: x86::l2_sq_avx2 };
        }
    }
    Kernels { dot: dot_portable, l2_sq: l2_sq_portable }
}

/// Dot product of `a` and `b`, using the fastest kernel for this CPU.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    (kernels().dot)(a, b)
}

/// Squared Euclidean distance between `a` and `b`, using the fastest kernel for this CPU.
#[inline]
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    (kernels().l2_sq)(a, b)
}

/// Hints the CPU to bring `v` into cache ahead of a distance computation; no effect on results.
#[inline(always)]
pub(crate) fn prefetch(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    x86::prefetch(v);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Portable dot product (no SIMD intrinsics; auto-vectorized).
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ta.iter().zip(tb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Portable squared Euclidean distance (no SIMD intrinsics; auto-vectorized).
pub fn l2_sq_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let tail: f32 = ta.iter().zip(tb).map(|(x, y)| (x - y) * (x - y)).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Floats per AVX register.
    const W: usize = 8;
    /// Independent accumulators: FMA latency (4 cycles) times FMA ports (2) needs 8 chains to stay busy.
    const ACCS: usize = 8;
    /// Floats per unrolled step.
    const STEP: usize = ACCS * W;

    pub(super) fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: this function is only installed by `detect` after avx2 and fma were detected.
        unsafe { dot_avx2_impl(a, b) }
    }

    pub(super) fn l2_sq_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: this function is only installed by `detect` after avx2 and fma were detected.
        unsafe { l2_sq_avx2_impl(a, b) }
    }

    /// Loads 8 floats from the start of `s`.
    ///
    /// # Safety
    /// `s.len() >= 8` and AVX is available.
    #[inline(always)]
    unsafe fn load(s: &[f32]) -> __m256 {
        debug_assert!(s.len() >= W);
        // SAFETY: the caller guarantees 8 readable floats; loadu has no alignment requirement.
        unsafe { _mm256_loadu_ps(s.as_ptr()) }
    }

    /// Sums the 8 lanes of `v`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0b01));
        _mm_cvtss_f32(s)
    }

    /// Adds the accumulators pairwise.
    #[target_feature(enable = "avx2,fma")]
    fn sum_all(acc: [__m256; ACCS]) -> __m256 {
        let q = [
            _mm256_add_ps(acc[0], acc[4]),
            _mm256_add_ps(acc[1], acc[5]),
            _mm256_add_ps(acc[2], acc[6]),
            _mm256_add_ps(acc[3], acc[7]),
        ];
        _mm256_add_ps(_mm256_add_ps(q[0], q[1]), _mm256_add_ps(q[2], q[3]))
    }

    /// Asks the CPU to start loading every cache line of `v` into L1.
    #[inline(always)]
    pub(super) fn prefetch(v: &[f32]) {
        for line in v.chunks(16) {
            // SAFETY: a prefetch is only a hint: it never faults and has no architectural effect; the pointer
            // is in bounds anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast::<i8>()) }
        }
    }

    /// # Safety
    /// The CPU supports avx2 and fma.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [_mm256_setzero_ps(); ACCS];
        let (ca, cb) = (a.chunks_exact(STEP), b.chunks_exact(STEP));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: chunks are STEP = ACCS*W long, so offset j*W < STEP leaves W readable floats.
                *acc = unsafe { _mm256_fmadd_ps(load(&x[j * W..]), load(&y[j * W..]), *acc) };
            }
        }
        let (wa, wb) = (ra.chunks_exact(W), rb.chunks_exact(W));
        let (ta, tb) = (wa.remainder(), wb.remainder());
        for (x, y) in wa.zip(wb) {
            // SAFETY: chunks are W long.
            acc[0] = unsafe { _mm256_fmadd_ps(load(x), load(y), acc[0]) };
        }
        let sum = sum_all(acc);
        let tail: f32 = ta.iter().zip(tb).map(|(x, y)| x * y).sum();
        // SAFETY: same target features as this function.
        unsafe { hsum(sum) + tail }
    }

    /// # Safety
    /// The CPU supports avx2 and fma.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn l2_sq_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [_mm256_setzero_ps(); ACCS];
        let (ca, cb) = (a.chunks_exact(STEP), b.chunks_exact(STEP));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: chunks are STEP = ACCS*W long, so offset j*W < STEP leaves W readable floats.
                let d = unsafe { _mm256_sub_ps(load(&x[j * W..]), load(&y[j * W..])) };
                *acc = _mm256_fmadd_ps(d, d, *acc);
            }
        }
        let (wa, wb) = (ra.chunks_exact(W), rb.chunks_exact(W));
        let (ta, tb) = (wa.remainder(), wb.remainder());
        for (x, y) in wa.zip(wb) {
            // SAFETY: chunks are W long.
            let d = unsafe { _mm256_sub_ps(load(x), load(y)) };
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        }
        let sum = sum_all(acc);
        let tail: f32 = ta.iter().zip(tb).map(|(x, y)| (x - y) * (x - y)).sum();
        // SAFETY: same target features as this function.
        unsafe { hsum(sum) + tail }
    }
}
