// Register-blocked convolution forward (see conv_reg_body.wgsl) with scalar weight loads:
// for any channel count. Same uniforms as conv.wgsl (conv_params.wgsl).
$ENABLE
//!include index
//!include window
//!include conv_params

@group(0) @binding(1) var<storage, read> X: array<$TS>;
@group(0) @binding(2) var<storage, read> W: array<$TS>;  // (Cout, Cg*K)
@group(0) @binding(3) var<storage, read> Bias: array<$TS>;
@group(0) @binding(4) var<storage, read_write> Y: array<$TS>;

const MB: u32 = ${MB}u;  // output channels per invocation
var<private> acc: array<vec4<$TC>, MB>;
var<private> wrow: array<u32, MB>;

fn w_begin(gi: u32, m0: u32) {
    // clamped rows: out-of-range channels are computed, not stored
    for (var i = 0u; i < MB; i = i + 1u) {
        wrow[i] = (gi * p.og + min(m0 + i, p.M - 1u)) * p.K;
    }
}

fn w_fma(gi: u32, m0: u32, k: u32, b: vec4<$TC>) {
    for (var i = 0u; i < MB; i = i + 1u) {
        acc[i] = acc[i] + $TC(W[wrow[i] + k]) * b;
    }
}

//!include conv_reg_body
