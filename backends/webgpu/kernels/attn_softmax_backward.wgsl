// Attention's softmax backward, one workgroup per row: ds = p * (dp - sum_j dp * p), where
// dp = g @ v^T (DP, compute type) and p the forward's probabilities; written in $TO.
$ENABLE
//!include row_reduce

struct Params {
    rows: u32,
    L: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> DP: array<$TS>;
@group(0) @binding(2) var<storage, read> P: array<$TP>;
@group(0) @binding(3) var<storage, read_write> DS: array<$TO>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let l = lid.x;
    let base = row * p.L;
    var acc = 0.0;
    for (var j = l; j < p.L; j = j + 64u) {
        acc = acc + f32(DP[base + j]) * f32(P[base + j]);
    }
    let dot_gp = wg_sum(acc, l);
    for (var j = l; j < p.L; j = j + 64u) {
        DS[base + j] = $TO(f32(P[base + j]) * (f32(DP[base + j]) - dot_gp));
    }
}
