// Convolution forward as an implicit GEMM per (sample, group): out[n, g*Og + m, :] =
// W[g] (Og, Cg*K) @ cols (Cg*K, P), where the columns are read straight from x (zeros
// outside the padding) instead of being written out by an im2col pass; plus the bias.
$ENABLE
//!include window
//!include conv_params

@group(0) @binding(1) var<storage, read> X: array<$TS>;
@group(0) @binding(2) var<storage, read> W: array<$TS>;
@group(0) @binding(3) var<storage, read> Bias: array<$TS>;
@group(0) @binding(4) var<storage, read_write> Y: array<$TS>;

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
            v = $TC(W[(gi * p.og + m0 + m) * p.K + k0 + k]);
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
            let c = (k0 + k) / p.kk;
            let r = unravel3(k0 + k - c * p.kk, p.ksz);
            let pos = unravel3(n0 + n, p.outsp) * p.stride.xyz + r * p.dil.xyz - p.pad.xyz;
            if (inside3(pos, p.insp)) {
                let off = i32(p.ox) + i32(nb) * p.xnc.x + i32(gi * p.cg + c) * p.xnc.y + dot(pos, p.xsp.xyz);
                v = $TC(X[off]);
            }
        }
        put_b(k, n, v);
    }
}

fn store_c(z: u32, m: u32, n: u32, v: $TC) {
    let o = gi * p.og + m;
    var y = v;
    if (p.has_bias != 0u) {
        y = y + $TC(Bias[o]);
    }
    Y[(nb * p.groups * p.og + o) * p.N + n] = $TS(y);
}

//!include matmul_tile
