//! A safe face on `matrixmultiply::sgemm`: every strided access is checked
//! to fall inside its slice before the kernel runs, and the borrow rules
//! keep the output apart from the inputs.
#![allow(unsafe_code)]

/// A strided view: element (i, j) is at `i * rs + j * cs`.
#[derive(Clone, Copy)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Layout {
    /// Row-major with row stride `rs`.
    pub fn rows(rows: usize, cols: usize, rs: usize) -> Self {
        Self { rows, cols, rs, cs: 1 }
    }

    /// Elements the view spans from its first one.
    fn span(&self) -> usize {
        if self.rows == 0 || self.cols == 0 { 0 } else { (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1 }
    }

    /// The transposed view of the same elements.
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }
}

/// `c = alpha · a · b + beta · c` (with `beta == 0`, `c`'s old values are
/// not read). Panics when the shapes disagree or a view leaves its slice:
/// both are bugs in the caller, never input-dependent.
#[allow(clippy::too_many_arguments)]
pub fn gemm(alpha: f32, a: &[f32], la: Layout, b: &[f32], lb: Layout, beta: f32, c: &mut [f32], lc: Layout) {
    assert!(la.cols == lb.rows && la.rows == lc.rows && lb.cols == lc.cols, "gemm shapes disagree");
    assert!(la.span() <= a.len() && lb.span() <= b.len() && lc.span() <= c.len(), "gemm view out of bounds");
    if lc.rows == 0 || lc.cols == 0 {
        return;
    }
    let s = |x: usize| isize::try_from(x).expect("stride fits isize");
    // SAFETY: each view's farthest element lies inside its slice (checked
    // above), `c` is borrowed mutably so it aliases neither input, and the
    // kernel touches only the elements the views describe.
    unsafe {
        matrixmultiply::sgemm(
            la.rows,
            la.cols,
            lb.cols,
            alpha,
            a.as_ptr(),
            s(la.rs),
            s(la.cs),
            b.as_ptr(),
            s(lb.rs),
            s(lb.cs),
            beta,
            c.as_mut_ptr(),
            s(lc.rs),
            s(lc.cs),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_with_strides_and_transposes() {
        // a = [[1, 2], [3, 4]], b = aᵀ: a · aᵀ = [[5, 11], [11, 25]].
        let a = [1., 2., 3., 4.];
        let mut c = [0.; 4];
        gemm(1.0, &a, Layout::rows(2, 2, 2), &a, Layout::rows(2, 2, 2).t(), 0.0, &mut c, Layout::rows(2, 2, 2));
        assert_eq!(c, [5., 11., 11., 25.]);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn a_view_past_its_slice_panics_before_the_kernel() {
        let a = [1., 2., 3.];
        let mut c = [0.; 4];
        gemm(1.0, &a, Layout::rows(2, 2, 2), &a, Layout::rows(2, 2, 2), 0.0, &mut c, Layout::rows(2, 2, 2));
    }
}
