// Tiled, register-blocked batched matmul over any strided A and B (scalar loads); see
// matmul_tile.wgsl for the tiling and matmul_vec4.wgsl for the aligned variant.
// $TS: storage type of A and B; $TO: of C; $TC: accumulation type.
$ENABLE
//!include index
//!include matmul_params

@group(0) @binding(1) var<storage, read> A: array<$TS>;
@group(0) @binding(2) var<storage, read> B: array<$TS>;
@group(0) @binding(3) var<storage, read_write> C: array<$TO>;

var<private> abase: i32;
var<private> bbase: i32;

fn begin(z: u32) {
    abase = i32(strided_offset(z, p.brank, p.bshape, p.sa, p.oa));
    bbase = i32(strided_offset(z, p.brank, p.bshape, p.sb, p.ob));
}

fn fill_a(t: u32, m0: u32, k0: u32) {
    for (var i = t; i < BM * BK; i = i + NT) {
        let k = i % BK;
        let m = i / BK;
        var v = $TC(0);
        if (m0 + m < p.M && k0 + k < p.K) {
            v = $TC(A[abase + i32(m0 + m) * p.a_rs + i32(k0 + k) * p.a_cs]);
        }
        put_a(k, m, v);
    }
}

fn fill_b(t: u32, k0: u32, n0: u32) {
    for (var i = t; i < BK * BN; i = i + NT) {
        let n = i % BN;
        let k = i / BN;
        var v = $TC(0);
        if (k0 + k < p.K && n0 + n < p.N) {
            v = $TC(B[bbase + i32(k0 + k) * p.b_rs + i32(n0 + n) * p.b_cs]);
        }
        put_b(k, n, v);
    }
}

fn store_c(z: u32, m: u32, n: u32, v: $TC) {
    C[c_index(z, m, n)] = $TO(v * $TC(p.alpha));
}

//!include matmul_tile
