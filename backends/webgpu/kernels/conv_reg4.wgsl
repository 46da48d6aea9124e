// Register-blocked convolution forward (see conv_reg_body.wgsl) with vec4 weight loads:
// the weights arrive transposed, (groups, Cg*K, Og) with MB (a multiple of 4) dividing Og, so
// the MB channels of one k are MB / 4 vector loads. Same uniforms as conv.wgsl.
$ENABLE
//!include index
//!include window
//!include conv_params

@group(0) @binding(1) var<storage, read> X: array<$TS>;
@group(0) @binding(2) var<storage, read> W: array<vec4<$TS>>;  // (groups, Cg*K, Og)
@group(0) @binding(3) var<storage, read> Bias: array<$TS>;
@group(0) @binding(4) var<storage, read_write> Y: array<$TS>;

const MB: u32 = ${MB}u;  // output channels per invocation
var<private> acc: array<vec4<$TC>, MB>;
var<private> wbase: u32;

fn w_begin(gi: u32, m0: u32) {
    wbase = (gi * p.K * p.og + m0) / 4u;  // MB divides Og: no block runs past it
}

fn w_fma(gi: u32, m0: u32, k: u32, b: vec4<$TC>) {
    let row = wbase + k * (p.og / 4u);
    for (var q = 0u; q < MB / 4u; q = q + 1u) {
        let w = vec4<$TC>(W[row + q]);
        acc[4u * q] = acc[4u * q] + w.x * b;
        acc[4u * q + 1u] = acc[4u * q + 1u] + w.y * b;
        acc[4u * q + 2u] = acc[4u * q + 2u] + w.z * b;
        acc[4u * q + 3u] = acc[4u * q + 3u] + w.w * b;
    }
}

//!include conv_reg_body
