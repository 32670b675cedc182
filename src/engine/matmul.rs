//! Matrix products on strided f32 views, delegated to the `gemm` crate in blocks of depth we
//! choose, so that every CPU sums the same products in the same order.
//!
//! gemm picks its kernels and its blocking at run time, and two of its choices change the bits
//! of a product from one x86-64 CPU to another:
//! - **The depth of its k blocks** (`gemm_common::cache::kernel_params`): each block's products
//!   are summed in registers, then added to C. It derives the depth from the L1 cache's size and
//!   associativity and the kernel's width: 512 for its AVX-512 kernels on the CPUs we know, but
//!   1024 for its AVX2 kernels on a 48 KiB 12-way L1. It never picks less than 512 nor more than
//!   k, so a product of depth at most 512 is one block on every CPU: [`k_blocks`] splits k into
//!   such blocks itself, in the split gemm makes with its AVX-512 kernels (the CPUs the committed
//!   results come from, which so stay reproducible). A remainder block of depth 1 or 2, which
//!   gemm would send down another path, is summed here as its kernels sum it.
//! - **Its dot-product paths** (`gemm_common::gemm`): at most 256 outputs with both operands
//!   contiguous along k, and a single row or column, are summed as SIMD dot products whose lane
//!   count is the CPU's vector width. [`takes_dot_path`] sends these to [`matmul_dot`], which
//!   sums in portable code exactly as gemm's AVX-512 dot-product kernel does. Training's
//!   products are never this thin; evaluation's last partial batch can be.
//!
//! Both mirror gemm 0.19's dispatch, which is why Cargo.toml pins that version exactly.
//! `tests/cpu_independence.rs` pins the bits of every method; docs/TESTING.md shows them checked
//! under an emulated AVX2-only CPU.

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

    /// Element (i, j).
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[self.offset + i * self.row_stride + j * self.col_stride]
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
    if takes_dot_path(m, n, &a, &b) {
        matmul_dot(m, n, k, a, b, c, c_offset, ldc, accumulate);
        return;
    }
    for (block, depth) in k_blocks(m, n, k).into_iter().enumerate() {
        let read_c = accumulate || block > 0;
        if depth.len() <= 2 {
            add_shallow_block(m, n, depth, &a, &b, c, c_offset, ldc, read_c);
            continue;
        }
        let a_block = MatRef {
            offset: a.offset + depth.start * a.col_stride,
            ..a
        };
        let b_block = MatRef {
            offset: b.offset + depth.start * b.row_stride,
            ..b
        };
        // SAFETY: the three views were bounds-checked above for the extents gemm touches (each
        // block lies inside them), and `c` is borrowed mutably, so it does not alias `a` or `b`.
        unsafe {
            gemm::gemm(
                m,
                n,
                depth.len(),
                c.as_mut_ptr().add(c_offset),
                1,
                ldc as isize,
                read_c,
                a_block.data.as_ptr().add(a_block.offset),
                a_block.col_stride as isize,
                a_block.row_stride as isize,
                b_block.data.as_ptr().add(b_block.offset),
                b_block.col_stride as isize,
                b_block.row_stride as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// A block of depth 1 or 2 (the remainder of a split), summed as gemm's kernels sum a block:
/// by fused multiply-adds from zero, then added to C. gemm itself would take its k ≤ 2 path,
/// which fuses C into the first product.
#[allow(clippy::too_many_arguments)]
fn add_shallow_block(
    m: usize,
    n: usize,
    depth: std::ops::Range<usize>,
    a: &MatRef,
    b: &MatRef,
    c: &mut [f32],
    c_offset: usize,
    ldc: usize,
    read_c: bool,
) {
    for i in 0..m {
        for j in 0..n {
            let sum = depth
                .clone()
                .fold(0.0f32, |sum, p| a.at(i, p).mul_add(b.at(p, j), sum));
            let out = &mut c[c_offset + i * ldc + j];
            *out = if read_c { *out + sum } else { sum };
        }
    }
}

/// The deepest k block gemm sums in one pass on every CPU.
const K_BLOCK: usize = 512;

/// The k ranges of an m×n×k product, each summed in one pass: gemm's AVX-512 split. For m, n ≤ 64
/// gemm uses blocks of [`K_BLOCK`] and the remainder last; otherwise the fewest blocks of at
/// most [`K_BLOCK`], all of depth ⌈k / count⌉ but the last.
fn k_blocks(m: usize, n: usize, k: usize) -> Vec<std::ops::Range<usize>> {
    let depth = if m <= 64 && n <= 64 {
        K_BLOCK
    } else {
        k.div_ceil(k.div_ceil(K_BLOCK))
    };
    (0..k)
        .step_by(depth)
        .map(|start| start..(start + depth).min(k))
        .collect()
}

/// Whether gemm would sum this product as dot products, in an order that depends on the CPU's
/// vector width: at most 256 outputs with both operands contiguous along k (its "horizontal"
/// kernels), or a single row or column (its matrix-vector kernels).
fn takes_dot_path(m: usize, n: usize, a: &MatRef, b: &MatRef) -> bool {
    m == 1 || n == 1 || (m * n <= 256 && a.col_stride == 1 && b.row_stride == 1)
}

/// Lanes of gemm's AVX-512 dot-product kernel.
const DOT_LANES: usize = 16;

/// The k block gemm's dot-product kernels sum in one pass.
const DOT_K_BLOCK: usize = 1024;

/// `matmul` for the products [`takes_dot_path`] selects, summed as gemm's AVX-512 dot-product
/// kernel sums them: per k block, lane l accumulates the products at depths ≡ l (mod 16) by
/// fused multiply-adds; the 16 lanes are added in halves (16 → 8 → 4 → 2 → 1); each block's
/// sum is then added to C.
#[allow(clippy::too_many_arguments)]
fn matmul_dot(
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
    for i in 0..m {
        for j in 0..n {
            let out = &mut c[c_offset + i * ldc + j];
            for start in (0..k).step_by(DOT_K_BLOCK) {
                let end = (start + DOT_K_BLOCK).min(k);
                let mut lanes = [0.0f32; DOT_LANES];
                for chunk in (start..end).step_by(DOT_LANES) {
                    for (l, lane) in lanes.iter_mut().enumerate() {
                        // gemm loads the block's tail with zeros in the missing lanes.
                        let p = chunk + l;
                        let (x, y) = if p < end {
                            (a.at(i, p), b.at(p, j))
                        } else {
                            (0.0, 0.0)
                        };
                        *lane = x.mul_add(y, *lane);
                    }
                }
                let mut width = DOT_LANES;
                while width > 1 {
                    width /= 2;
                    for l in 0..width {
                        lanes[l] += lanes[l + width];
                    }
                }
                *out = if accumulate || start > 0 {
                    *out + lanes[0]
                } else {
                    lanes[0]
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: MatRef, b: MatRef) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a.at(i, p) * b.at(p, j)).sum();
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

    /// Pseudo-random operands for an m×n×k product: A row-major, or A's transpose row-major.
    fn operands(m: usize, n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let a = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        (a, b)
    }

    /// Each output as gemm's kernels sum it: every block's products in order of k by fused
    /// multiply-adds, each block's sum then added to C.
    fn blocked_fma(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, c0: f32) -> Vec<f32> {
        let mut c = vec![c0; m * n];
        for i in 0..m {
            for j in 0..n {
                for block in k_blocks(m, n, k) {
                    let sum = block.fold(0.0f32, |s, p| a.at(i, p).mul_add(b.at(p, j), s));
                    c[i * n + j] += sum;
                }
            }
        }
        c
    }

    /// The bits of a product are those of its definition in our blocks, whatever blocking gemm
    /// would choose on this CPU: deep products on the small-matrix path (m, n ≤ 64: blocks of
    /// 512 and the rest) and the general one (equal blocks), both layouts, with accumulation.
    #[test]
    fn deep_products_are_summed_in_our_k_blocks() {
        for (m, n, k) in [
            (16, 40, 1300),
            (20, 30, 1026),
            (70, 10, 1300),
            (100, 90, 1100),
            (3, 65, 513),
        ] {
            let (a, b) = operands(m, n, k);
            for (av, bv) in [
                (MatRef::rows(&a, 0, k), MatRef::rows(&b, 0, n)),
                (MatRef::transposed(&a, 0, m), MatRef::transposed(&b, 0, k)),
            ] {
                let mut c = vec![0.5; m * n];
                matmul(m, n, k, av, bv, &mut c, 0, n, true);
                assert!(
                    c == blocked_fma(m, n, k, av, bv, 0.5),
                    "{m}×{n}×{k}: not the blocked sum"
                );
            }
        }
        assert_eq!(k_blocks(16, 40, 1300), [0..512, 512..1024, 1024..1300]);
        assert_eq!(k_blocks(100, 90, 1100), [0..367, 367..734, 734..1100]);
        assert_eq!(k_blocks(70, 10, 512).len(), 1);
    }

    /// Dot-product products (here: 16×10 outputs along a contiguous k of 1100, as in the last
    /// partial batch of a linear layer) are what gemm's AVX-512 kernel computes: on this CPU
    /// gemm itself, elsewhere the portable code that mirrors it.
    #[test]
    fn dot_products_are_summed_as_gemms_avx512_kernel_sums_them() {
        let (m, n, k) = (16, 10, 1100);
        let (a, b) = operands(m, n, k);
        let (av, bv) = (MatRef::rows(&a, 0, k), MatRef::transposed(&b, 0, k));
        assert!(takes_dot_path(m, n, &av, &bv));
        let mut ours = vec![0.25; m * n];
        matmul(m, n, k, av, bv, &mut ours, 0, n, true);
        for i in 0..m {
            for j in 0..n {
                let dot = |range: std::ops::Range<usize>| {
                    let mut lanes = [0.0f32; 16];
                    for p in range.clone() {
                        let l = (p - range.start) % 16;
                        lanes[l] = a[i * k + p].mul_add(b[j * k + p], lanes[l]);
                    }
                    let half = |x: &[f32]| -> Vec<f32> {
                        let h = x.len() / 2;
                        (0..h).map(|l| x[l] + x[l + h]).collect()
                    };
                    half(&half(&half(&half(&lanes))))[0]
                };
                let want = 0.25 + dot(0..1024) + dot(1024..1100);
                assert_eq!(
                    ours[i * n + j].to_bits(),
                    want.to_bits(),
                    "output ({i}, {j})"
                );
            }
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            let mut theirs = vec![0.25; m * n];
            // SAFETY: the views hold m×k and k×n elements, `theirs` m×n.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    theirs.as_mut_ptr(),
                    1,
                    n as isize,
                    true,
                    a.as_ptr(),
                    1,
                    k as isize,
                    b.as_ptr(),
                    k as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            assert!(ours == theirs, "gemm's AVX-512 dot products differ");
        }
    }
}
