//! Metrics and the distance function built from the CPU's kernels.

use crate::kernel::{KernelFn, kernels};

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

/// A metric bound to the kernels chosen for this CPU.
#[derive(Clone, Copy)]
pub(crate) struct Distance {
    metric: Metric,
    dot: KernelFn,
    l2_sq: KernelFn,
}

impl Distance {
    pub(crate) fn new(metric: Metric) -> Distance {
        let k = kernels();
        Distance { metric, dot: k.dot, l2_sq: k.l2_sq }
    }

    /// Distance between two vectors of the index's dimensions (cosine assumes both are normalized).
    #[inline(always)]
    pub(crate) fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.metric {
            Metric::Cosine => 1.0 - (self.dot)(a, b),
            Metric::Dot => -(self.dot)(a, b),
            Metric::L2 => (self.l2_sq)(a, b),
        }
    }
}
