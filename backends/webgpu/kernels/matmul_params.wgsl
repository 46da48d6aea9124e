// Uniforms shared by the matmul kernels: C (batch, M, N) contiguous = alpha * A @ B, where
// A[z, m, k] = A[oa + batch_off_a(z) + m * a_rs + k * a_cs] (any strides, so transposed
// and broadcast views need no copy) and likewise B[z, k, n] with b_rs (k) and b_cs (n).
struct Params {
    bshape: array<vec4<u32>, 2>,  // batch shape (rank brank <= 8)
    sa: array<vec4<i32>, 2>,      // A's batch strides (0 where broadcast)
    sb: array<vec4<i32>, 2>,      // B's batch strides
    M: u32,
    N: u32,
    K: u32,
    brank: u32,
    a_rs: i32,
    a_cs: i32,
    b_rs: i32,
    b_cs: i32,
    oa: u32,
    ob: u32,
    z0: u32,
    alpha: f32,
    a_vec_k: u32,  // matmul_vec4: A is contiguous along K (else along M)
    b_vec_n: u32,  // matmul_vec4: B is contiguous along N (else along K)
    nz: u32,       // matmul_naive: batch count
    oc: u32,       // element offset of C
    splits: u32,   // split-K: partial sums per output (see matmul_tile.wgsl)
    kchunk: u32,
    sstride: u32,  // elements between two splits' partial outputs
}

@group(0) @binding(0) var<uniform> p: Params;

fn c_index(z: u32, m: u32, n: u32) -> u32 {
    return p.oc + (z * p.M + m) * p.N + n + split_id * p.sstride;
}
