// Convolution weight gradient as an implicit GEMM per group, reducing over batch and
// positions: dW[g*Og + m, :] = G[g] (Og, N*P) @ cols (N*P, Cg*K), both read in place
// (G through its strides, the columns from x through the window geometry).
$ENABLE
//!include window
//!include conv_params

@group(0) @binding(1) var<storage, read> G: array<$TS>;
@group(0) @binding(2) var<storage, read> X: array<$TS>;
@group(0) @binding(3) var<storage, read_write> DW: array<$TO>;

var<private> gi: u32;

fn begin(z: u32) {
    gi = z;
}

fn fill_a(t: u32, m0: u32, k0: u32) {
    for (var i = t; i < BM * BK; i = i + NT) {
        let k = i % BK;
        let m = i / BK;
        var v = $TC(0);
        if (m0 + m < p.M && k0 + k < p.K) {
            let nb = (k0 + k) / p.P;
            let pos = unravel3(k0 + k - nb * p.P, p.outsp);
            let off = i32(p.go) + i32(nb) * p.gnc.x + i32(gi * p.og + m0 + m) * p.gnc.y + dot(pos, p.gsp.xyz);
            v = $TC(G[off]);
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
            let nb = (k0 + k) / p.P;
            let o = unravel3(k0 + k - nb * p.P, p.outsp);
            let c = (n0 + n) / p.kk;
            let r = unravel3(n0 + n - c * p.kk, p.ksz);
            let pos = o * p.stride.xyz + r * p.dil.xyz - p.pad.xyz;
            if (inside3(pos, p.insp)) {
                let off = i32(p.ox) + i32(nb) * p.xnc.x + i32(gi * p.cg + c) * p.xnc.y + dot(pos, p.xsp.xyz);
                v = $TC(X[off]);
            }
        }
        put_b(k, n, v);
    }
}

fn store_c(z: u32, m: u32, n: u32, v: $TC) {
    DW[(gi * p.og + m) * p.N + n + split_id * p.sstride] = $TO(v);
}

//!include matmul_tile
