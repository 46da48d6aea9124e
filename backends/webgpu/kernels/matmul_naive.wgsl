// The baseline batched matmul: one thread per output, a plain loop over K reading global
// memory (no tiling, no reuse). Kept for `bench/webgpu.py` (fast vs naive on one adapter)
// and used for matrix-vector products (M or N = 1), where a tile would idle.
$ENABLE
//!include index
//!include matmul_params

@group(0) @binding(1) var<storage, read> A: array<$TS>;
@group(0) @binding(2) var<storage, read> B: array<$TS>;
@group(0) @binding(3) var<storage, read_write> C: array<$TO>;

var<private> split_id: u32;  // c_index's split-K offset: always 0 here

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.nz * p.M * p.N) {
        return;
    }
    let n = i % p.N;
    let m = (i / p.N) % p.M;
    let z = i / (p.N * p.M);
    var ia = i32(strided_offset(z, p.brank, p.bshape, p.sa, p.oa)) + i32(m) * p.a_rs;
    var ib = i32(strided_offset(z, p.brank, p.bshape, p.sb, p.ob)) + i32(n) * p.b_cs;
    var acc = $TC(0);
    for (var k = 0u; k < p.K; k = k + 1u) {
        acc = acc + $TC(A[ia]) * $TC(B[ib]);
        ia = ia + p.a_cs;
        ib = ib + p.b_rs;
    }
    C[c_index(z, m, n)] = $TO(acc * $TC(p.alpha));
}
