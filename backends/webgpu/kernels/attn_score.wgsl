// The attention softmax kernels' uniforms, bindings and masked score (attn_softmax.wgsl,
// attn_softmax_row.wgsl): mask (bool: 0 = masked; additive: added; causal: key j > query i
// masked). Needs `index` (strided_offset) included first.
struct Params {
    shape: array<vec4<u32>, 2>,  // the scores' shape (rank <= 8), for the mask's strides
    ms: array<vec4<i32>, 2>,     // mask strides over that shape (0 where broadcast)
    rows: u32,
    L: u32,
    Lq: u32,
    rank: u32,
    mode: u32,                   // 0: no mask, 1: bool mask, 2: additive mask
    causal: u32,
    mo: u32,                     // element offset of the mask
    ninf: u32,                   // bits of -inf (a runtime value: WGSL constants can't be inf)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> S: array<$TS>;
@group(0) @binding(2) var<storage, read> Mk: array<$TM>;
@group(0) @binding(3) var<storage, read_write> P: array<$TP>;

fn score(row: u32, j: u32) -> f32 {
    let ninf = bitcast<f32>(p.ninf);
    if (p.causal != 0u && j > row % p.Lq) {
        return ninf;
    }
    var s = f32(S[row * p.L + j]);
    if (p.mode != 0u) {
        let m = f32(Mk[strided_offset(row * p.L + j, p.rank, p.shape, p.ms, p.mo)]);
        if (p.mode == 1u) {
            if (m == 0.0) {
                return ninf;
            }
        } else {
            s = s + m;
        }
    }
    return s;
}
