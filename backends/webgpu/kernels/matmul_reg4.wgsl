// matmul_reg.wgsl with vec4 loads: A is read 4 consecutive k at a time (its rows are
// contiguous along K, K % 4 == 0) and B either 4 consecutive k of a column (BVK = 1: x @ w.T,
// q @ k.T) or 4 consecutive n of a row (BVK = 0: p @ v, x @ w; N % 4 == 0). The caller checks
// the strides and offsets keep every vector 4-aligned. Each invocation computes an MB x 4
// block of C for one batch index; no workgroup memory. Same uniforms as matmul.wgsl.
$ENABLE
//!include index
//!include matmul_params

@group(0) @binding(1) var<storage, read> A: array<vec4<$TS>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<$TS>>;
@group(0) @binding(3) var<storage, read_write> C: array<$TO>;

const BVK: bool = ${BVK};
//!include matmul_reg_body

fn accumulate(m0: u32, n0: u32, abase: i32, bbase: i32) {
    var ia: array<i32, MB>;  // in vec4 units
    for (var i = 0u; i < MB; i = i + 1u) {
        ia[i] = (abase + i32(min(m0 + i, p.M - 1u)) * p.a_rs) / 4;
    }
    var ib: array<i32, 4>;  // BVK: the 4 columns' starts; else the row start (ib[0])
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (BVK) {
            ib[j] = (bbase + i32(min(n0 + j, p.N - 1u)) * p.b_cs) / 4;
        } else {
            ib[j] = (bbase + i32(n0) + i32(j) * p.b_rs) / 4;  // rows k + j of the 4-k step
        }
    }
    let bstep = select(p.b_rs, 1, BVK);  // vec4 units per 4 k: B's k stride
    for (var k4 = 0; k4 < i32(p.K / 4u); k4 = k4 + 1) {
        var bm: mat4x4<$TC>;
        if (BVK) {  // columns: b_j = B[k..k+4, n0 + j]; a * bm = (dot(a, b_j))_j
            bm = mat4x4<$TC>(
                vec4<$TC>(B[ib[0] + k4]), vec4<$TC>(B[ib[1] + k4]),
                vec4<$TC>(B[ib[2] + k4]), vec4<$TC>(B[ib[3] + k4]),
            );
        } else {  // columns: rows k + kk of B over n0..n0+4; bm * a = sum_kk a[kk] * row
            let o = k4 * bstep;
            bm = mat4x4<$TC>(
                vec4<$TC>(B[ib[0] + o]), vec4<$TC>(B[ib[1] + o]),
                vec4<$TC>(B[ib[2] + o]), vec4<$TC>(B[ib[3] + o]),
            );
        }
        for (var i = 0u; i < MB; i = i + 1u) {
            let a = vec4<$TC>(A[ia[i] + k4]);
            if (BVK) {
                acc[i] = acc[i] + a * bm;
            } else {
                acc[i] = acc[i] + bm * a;
            }
        }
    }
}
