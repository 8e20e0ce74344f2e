//! Metrics and the distance function built from the CPU's kernels.

use crate::kernel::{Isa, Kernel, KernelFn, isa, kernels};

/// How distance between vectors is measured. Lower distance means closer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Vectors are normalized to unit length; distance = 1 - dot.
    Cosine,
    /// Raw inner product; distance = -dot.
    Dot,
    /// Squared Euclidean distance.
    L2,
}

impl Metric {
    /// The metric's code in the file format.
    pub(crate) fn code(self) -> u32 {
        match self {
            Metric::Cosine => 1,
            Metric::Dot => 2,
            Metric::L2 => 3,
        }
    }

    /// The metric for a file-format code.
    pub(crate) fn from_code(code: u32) -> Option<Metric> {
        match code {
            1 => Some(Metric::Cosine),
            2 => Some(Metric::Dot),
            3 => Some(Metric::L2),
            _ => None,
        }
    }
}

/// A distance function between two vectors of the index's dimensions (cosine assumes both are normalized).
pub(crate) trait Eval: Copy {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32;
}

/// A metric bound to the kernels chosen for this CPU, called through function pointers (for cold paths).
#[derive(Clone, Copy)]
pub(crate) struct Distance {
    pub(crate) metric: Metric,
    pub(crate) isa: Isa,
    dot: KernelFn,
    l2_sq: KernelFn,
}

impl Distance {
    pub(crate) fn new(metric: Metric) -> Distance {
        let k = kernels();
        Distance { metric, isa: isa(), dot: k.dot, l2_sq: k.l2_sq }
    }
}

impl Eval for Distance {
    #[inline(always)]
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.metric {
            Metric::Cosine => 1.0 - (self.dot)(a, b),
            Metric::Dot => -(self.dot)(a, b),
            Metric::L2 => (self.l2_sq)(a, b),
        }
    }
}

/// Metric codes of [`Static`].
pub(crate) const COSINE: u8 = 0;
pub(crate) const DOT: u8 = 1;
pub(crate) const L2: u8 = 2;

/// A metric and kernel fixed at compile time: hot loops generic over it call the kernel statically.
#[derive(Clone, Copy)]
pub(crate) struct Static<K, const M: u8>(pub(crate) K);

impl<K: Kernel, const M: u8> Eval for Static<K, M> {
    #[inline(always)]
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        match M {
            COSINE => 1.0 - self.0.dot(a, b),
            DOT => -self.0.dot(a, b),
            _ => self.0.l2_sq(a, b),
        }
    }
}

/// Runs `$body` with `$d` bound to a [`Static`] distance equal to the [`Distance`] `$dist`: the metric and
/// kernel are matched once, and `$body` is compiled once per combination.
macro_rules! with_static {
    ($dist:expr, $d:ident => $body:expr) => {{
        let dist: $crate::metric::Distance = $dist;
        macro_rules! by_metric {
            ($k:expr) => {
                match dist.metric {
                    $crate::metric::Metric::Cosine => {
                        let $d = $crate::metric::Static::<_, { $crate::metric::COSINE }>($k);
                        $body
                    }
                    $crate::metric::Metric::Dot => {
                        let $d = $crate::metric::Static::<_, { $crate::metric::DOT }>($k);
                        $body
                    }
                    $crate::metric::Metric::L2 => {
                        let $d = $crate::metric::Static::<_, { $crate::metric::L2 }>($k);
                        $body
                    }
                }
            };
        }
        match dist.isa {
            #[cfg(target_arch = "x86_64")]
            $crate::kernel::Isa::Avx512(k) => by_metric!(k),
            #[cfg(target_arch = "x86_64")]
            $crate::kernel::Isa::Avx2(k) => by_metric!(k),
            $crate::kernel::Isa::Portable(k) => by_metric!(k),
        }
    }};
}
pub(crate) use with_static;
