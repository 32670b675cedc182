//! Matrix products on strided f32 views, delegated to the `gemm` crate.

/// A read-only matrix view: element (i, j) is `data[offset + i·row_stride + j·col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Index of element (0, 0).
    pub offset: usize,
    /// Step between rows.
    pub row_stride: usize,
    /// Step between columns.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major view with leading dimension `ld` starting at `offset`.
    pub fn rows(data: &'a [f32], offset: usize, ld: usize) -> MatRef<'a> {
        MatRef {
            data,
            offset,
            row_stride: ld,
            col_stride: 1,
        }
    }

    /// The transpose of the row-major view `rows(data, offset, ld)`.
    pub fn transposed(data: &'a [f32], offset: usize, ld: usize) -> MatRef<'a> {
        MatRef {
            data,
            offset,
            row_stride: 1,
            col_stride: ld,
        }
    }

    fn check(&self, rows: usize, cols: usize) {
        if rows > 0 && cols > 0 {
            let last = self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `C = A·B` or `C += A·B`, with A m×k, B k×n, and C m×n row-major with leading dimension `ldc`
/// starting at `c_offset`. Single-threaded: callers parallelize over independent blocks.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef,
    b: MatRef,
    c: &mut [f32],
    c_offset: usize,
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    a.check(m, k);
    b.check(k, n);
    assert!(
        c_offset + (m - 1) * ldc + n <= c.len(),
        "output view out of bounds"
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[c_offset + i * ldc..][..n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: the three views were bounds-checked above for the extents gemm touches, and `c`
    // is borrowed mutably, so it does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr().add(c_offset),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr().add(a.offset),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr().add(b.offset),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: MatRef, b: MatRef) -> Vec<f32> {
        let at =
            |v: &MatRef, i: usize, j: usize| v.data[v.offset + i * v.row_stride + j * v.col_stride];
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| at(&a, i, p) * at(&b, p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn matches_naive_with_transposes_and_accumulation() {
        let (m, n, k) = (7, 5, 9);
        let a: Vec<f32> = (0..m * k + 3).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n + 2).map(|i| (i as f32 * 0.11).cos()).collect();
        for (av, bv) in [
            (MatRef::rows(&a, 3, k), MatRef::rows(&b, 2, n)),
            (MatRef::transposed(&a, 0, m), MatRef::transposed(&b, 0, k)),
        ] {
            let want = naive(m, n, k, av, bv);
            let mut c = vec![1.0; m * n];
            matmul(m, n, k, av, bv, &mut c, 0, n, false);
            c.iter()
                .zip(&want)
                .for_each(|(x, y)| assert!((x - y).abs() < 1e-4));
            matmul(m, n, k, av, bv, &mut c, 0, n, true);
            c.iter()
                .zip(&want)
                .for_each(|(x, y)| assert!((x - 2.0 * y).abs() < 1e-4));
        }
    }
}
