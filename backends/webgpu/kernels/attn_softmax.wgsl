// Attention's middle step, one workgroup per score row: mask (bool: 0 = masked; additive:
// added; causal: key j > query i masked), then a softmax over the row. Rows whose keys are
// all masked give zeros (torch's sdpa), not NaN. S: scores (rows, L) in the compute type;
// P: the probabilities in the storage type.
$ENABLE
//!include index
//!include row_reduce

//!include attn_score

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= p.rows) {
        return;
    }
    let l = lid.x;
    var m = bitcast<f32>(p.ninf);
    for (var j = l; j < p.L; j = j + 64u) {
        m = max(m, score(row, j));
    }
    m = wg_max(m, l);
    let dead = bitcast<u32>(m) == p.ninf;  // on the bits: compilers may assume no inf
    var total = 0.0;
    for (var j = l; j < p.L; j = j + 64u) {
        total = total + exp(score(row, j) - m);
    }
    total = wg_sum(total, l);
    for (var j = l; j < p.L; j = j + 64u) {
        var v = 0.0;
        if (!dead) {
            v = exp(score(row, j) - m) / total;
        }
        P[row * p.L + j] = $TP(v);
    }
}
