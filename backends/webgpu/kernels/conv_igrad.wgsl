// Convolution input gradient (the transposed convolution) as an implicit GEMM per
// (sample, group), with no col2im scatter: dx[n, g*Cg + m, x] = sum over (o, r) of
// W[g*Og + o, m, r] * G[n, g*Og + o, (x + pad - r*dil) / stride], the term present only
// where that division is exact and lands inside the output.
$ENABLE
//!include window
//!include conv_params

@group(0) @binding(1) var<storage, read> G: array<$TS>;
@group(0) @binding(2) var<storage, read> W: array<$TS>;
@group(0) @binding(3) var<storage, read_write> DX: array<$TS>;

var<private> nb: u32;
var<private> gi: u32;

fn begin(z: u32) {
    nb = z / p.groups;
    gi = z % p.groups;
}

fn fill_a(t: u32, m0: u32, k0: u32) {
    for (var i = t; i < BM * BK; i = i + NT) {
        let k = i % BK;
        let m = i / BK;
        var v = $TC(0);
        if (m0 + m < p.M && k0 + k < p.K) {
            let o = (k0 + k) / p.kk;
            let r = k0 + k - o * p.kk;
            v = $TC(W[((gi * p.og + o) * p.cg + m0 + m) * p.kk + r]);
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
            let o = (k0 + k) / p.kk;
            let r = unravel3(k0 + k - o * p.kk, p.ksz);
            let src = source3(unravel3(n0 + n, p.insp), r, p.stride, p.dil, p.pad, p.outsp);
            if (src.x >= 0) {
                let off = i32(p.go) + i32(nb) * p.gnc.x + i32(gi * p.og + o) * p.gnc.y + dot(src, p.gsp.xyz);
                v = $TC(G[off]);
            }
        }
        put_b(k, n, v);
    }
}

fn store_c(z: u32, m: u32, n: u32, v: $TC) {
    DX[(nb * p.groups * p.cg + gi * p.cg + m) * p.N + n] = $TS(v);
}

//!include matmul_tile
