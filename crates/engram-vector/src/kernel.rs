//! Distance kernels: a portable version LLVM auto-vectorizes, and AVX-512F and AVX2+FMA versions chosen once
//! at runtime. Hot loops get the chosen kernel as a zero-sized [`Kernel`] type so that the call is static.
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
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512(_) => Kernels { dot: x86::dot_avx512, l2_sq: x86::l2_sq_avx512 },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2(_) => Kernels { dot: x86::dot_avx2, l2_sq: x86::l2_sq_avx2 },
        Isa::Portable(_) => Kernels { dot: dot_portable, l2_sq: l2_sq_portable },
    }
}

/// A distance kernel known at compile time. Values of the SIMD implementors exist only once their CPU
/// features were detected (their fields are private to this module), which is what makes calling them safe.
pub(crate) trait Kernel: Copy {
    fn dot(self, a: &[f32], b: &[f32]) -> f32;
    fn l2_sq(self, a: &[f32], b: &[f32]) -> f32;
}

/// The portable kernels.
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Kernel for Portable {
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        dot_portable(a, b)
    }

    #[inline(always)]
    fn l2_sq(self, a: &[f32], b: &[f32]) -> f32 {
        l2_sq_portable(a, b)
    }
}

/// The kernel family for this CPU.
#[derive(Clone, Copy)]
pub(crate) enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512(x86::Avx512),
    #[cfg(target_arch = "x86_64")]
    Avx2(x86::Avx2),
    Portable(Portable),
}

/// The best kernel family this CPU supports, detected once per process.
pub(crate) fn isa() -> Isa {
    static CHOSEN: OnceLock<Isa> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(k) = x86::Avx512::detect() {
                return Isa::Avx512(k);
            }
            if let Some(k) = x86::Avx2::detect() {
                return Isa::Avx2(k);
            }
        }
        Isa::Portable(Portable)
    })
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

/// Hints the CPU to bring the start of `v` into cache ahead of its use; no effect on results.
///
/// Only the first cache line: it starts the stream and the hardware prefetcher follows. Prefetching every
/// line of a long vector was measured slower (it stalls on the fill buffers).
#[inline(always)]
pub(crate) fn prefetch<T>(v: &[T]) {
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

    /// Proof that avx2 and fma were detected: only `detect` constructs it.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        pub(super) fn detect() -> Option<Avx2> {
            let ok = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
            ok.then_some(Avx2(()))
        }
    }

    impl super::Kernel for Avx2 {
        #[inline(always)]
        fn dot(self, a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: an `Avx2` value exists only after avx2 and fma were detected.
            unsafe { dot_avx2_impl(a, b) }
        }

        #[inline(always)]
        fn l2_sq(self, a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: an `Avx2` value exists only after avx2 and fma were detected.
            unsafe { l2_sq_avx2_impl(a, b) }
        }
    }

    /// Proof that avx512f was detected: only `detect` constructs it.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512(());

    impl Avx512 {
        pub(super) fn detect() -> Option<Avx512> {
            std::arch::is_x86_feature_detected!("avx512f").then_some(Avx512(()))
        }
    }

    impl super::Kernel for Avx512 {
        #[inline(always)]
        fn dot(self, a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: an `Avx512` value exists only after avx512f was detected.
            unsafe { dot_avx512_impl(a, b) }
        }

        #[inline(always)]
        fn l2_sq(self, a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: an `Avx512` value exists only after avx512f was detected.
            unsafe { l2_sq_avx512_impl(a, b) }
        }
    }

    pub(super) fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: this function is only installed by `detect` after avx512f was detected.
        unsafe { dot_avx512_impl(a, b) }
    }

    pub(super) fn l2_sq_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: this function is only installed by `detect` after avx512f was detected.
        unsafe { l2_sq_avx512_impl(a, b) }
    }

    /// Floats per AVX-512 register.
    const W16: usize = 16;
    /// Independent AVX-512 accumulators per unrolled step.
    const ACCS16: usize = 4;

    /// # Safety
    /// The CPU supports avx512f.
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); ACCS16];
        let mut i = 0;
        while i + ACCS16 * W16 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let o = i + j * W16;
                // SAFETY: o + 16 <= i + 64 <= n, and both slices hold at least n floats; loadu is unaligned.
                *acc = unsafe { _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(o)), _mm512_loadu_ps(pb.add(o)), *acc) };
            }
            i += ACCS16 * W16;
        }
        let mut j = 0;
        while i + W16 <= n {
            // SAFETY: i + 16 <= n.
            acc[j] = unsafe { _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc[j]) };
            i += W16;
            j = (j + 1) % ACCS16;
        }
        if i < n {
            let mask: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
            // SAFETY: masked-off lanes are neither read nor faulted on; the n - i enabled lanes are in bounds.
            let (x, y) = unsafe { (_mm512_maskz_loadu_ps(mask, pa.add(i)), _mm512_maskz_loadu_ps(mask, pb.add(i))) };
            acc[j] = _mm512_fmadd_ps(x, y, acc[j]);
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum)
    }

    /// # Safety
    /// The CPU supports avx512f.
    #[target_feature(enable = "avx512f")]
    unsafe fn l2_sq_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); ACCS16];
        let mut i = 0;
        while i + ACCS16 * W16 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let o = i + j * W16;
                // SAFETY: o + 16 <= i + 64 <= n, and both slices hold at least n floats; loadu is unaligned.
                let d = unsafe { _mm512_sub_ps(_mm512_loadu_ps(pa.add(o)), _mm512_loadu_ps(pb.add(o))) };
                *acc = _mm512_fmadd_ps(d, d, *acc);
            }
            i += ACCS16 * W16;
        }
        let mut j = 0;
        while i + W16 <= n {
            // SAFETY: i + 16 <= n.
            let d = unsafe { _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
            acc[j] = _mm512_fmadd_ps(d, d, acc[j]);
            i += W16;
            j = (j + 1) % ACCS16;
        }
        if i < n {
            let mask: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
            // SAFETY: masked-off lanes are neither read nor faulted on; the n - i enabled lanes are in bounds.
            let (x, y) = unsafe { (_mm512_maskz_loadu_ps(mask, pa.add(i)), _mm512_maskz_loadu_ps(mask, pb.add(i))) };
            let d = _mm512_sub_ps(x, y);
            acc[j] = _mm512_fmadd_ps(d, d, acc[j]);
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(sum)
    }

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

    /// Asks the CPU to start loading the first cache line of `v` into L1.
    #[inline(always)]
    pub(super) fn prefetch<T>(v: &[T]) {
        // SAFETY: a prefetch is only a hint: it never faults and has no architectural effect; the pointer is
        // in bounds (or one past the end of an empty slice) anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(v.as_ptr().cast::<i8>()) }
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

#[cfg(test)]
mod tests {
    use super::{Kernel, Portable};

    fn check<K: Kernel>(k: K) {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32) - 0.5
        };
        for len in (0..=140).chain([383, 384, 385, 784, 1000]) {
            let a: Vec<f32> = (0..len).map(|_| next()).collect();
            let b: Vec<f32> = (0..len).map(|_| next()).collect();
            let dot: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            let l2: f64 = a.iter().zip(&b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum();
            assert!((f64::from(k.dot(&a, &b)) - dot).abs() <= 1e-5 * (len as f64).max(1.0), "dot len {len}");
            assert!((f64::from(k.l2_sq(&a, &b)) - l2).abs() <= 1e-5 * (len as f64).max(1.0), "l2 len {len}");
        }
    }

    #[test]
    fn every_available_kernel_matches_f64() {
        check(Portable);
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(k) = super::x86::Avx2::detect() {
                check(k);
            }
            if let Some(k) = super::x86::Avx512::detect() {
                check(k);
            }
        }
    }
}
