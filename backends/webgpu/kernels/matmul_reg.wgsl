// Batched matmul without workgroup memory or barriers, for software adapters (SwiftShader,
// lavapipe): each invocation computes an MB x 4 block of C = alpha * A @ B for one batch
// index, reading A and B straight from storage through their strides (any views, like
// matmul.wgsl). Out-of-range rows and columns are clamped for loading and not stored.
// The grid is linear over (z, row block, column block), columns fastest. Same uniforms as
// matmul.wgsl (matmul_params.wgsl); `nz` counts the batch indices of this dispatch from z0.
$ENABLE
//!include index
//!include matmul_params

@group(0) @binding(1) var<storage, read> A: array<$TS>;
@group(0) @binding(2) var<storage, read> B: array<$TS>;
@group(0) @binding(3) var<storage, read_write> C: array<$TO>;

//!include matmul_reg_body

fn accumulate(m0: u32, n0: u32, abase: i32, bbase: i32) {
    var ia: array<i32, MB>;
    for (var i = 0u; i < MB; i = i + 1u) {
        ia[i] = abase + i32(min(m0 + i, p.M - 1u)) * p.a_rs;
    }
    var ib: array<i32, 4>;
    for (var j = 0u; j < 4u; j = j + 1u) {
        ib[j] = bbase + i32(min(n0 + j, p.N - 1u)) * p.b_cs;
    }
    for (var k = 0; k < i32(p.K); k = k + 1) {
        let b = vec4<$TC>(
            $TC(B[ib[0] + k * p.b_rs]),
            $TC(B[ib[1] + k * p.b_rs]),
            $TC(B[ib[2] + k * p.b_rs]),
            $TC(B[ib[3] + k * p.b_rs]),
        );
        for (var i = 0u; i < MB; i = i + 1u) {
            acc[i] = acc[i] + $TC(A[ia[i] + k * p.a_cs]) * b;
        }
    }
}
