// attn_softmax.wgsl with one invocation per score row (no workgroup memory, no barriers):
// for software adapters (SwiftShader runs barriers slowly) and short rows. Same uniforms
// and masking rules; the grid is linear over rows, 64 per workgroup.
$ENABLE
//!include index

//!include attn_score

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = linear_id(gid, nwg, 64u);
    if (row >= p.rows) {
        return;
    }
    var m = bitcast<f32>(p.ninf);
    for (var j = 0u; j < p.L; j = j + 1u) {
        m = max(m, score(row, j));
    }
    let dead = bitcast<u32>(m) == p.ninf;  // on the bits: compilers may assume no inf
    var total = 0.0;
    for (var j = 0u; j < p.L; j = j + 1u) {
        total = total + exp(score(row, j) - m);
    }
    for (var j = 0u; j < p.L; j = j + 1u) {
        var v = 0.0;
        if (!dead) {
            v = exp(score(row, j) - m) / total;
        }
        P[row * p.L + j] = $TP(v);
    }
}
