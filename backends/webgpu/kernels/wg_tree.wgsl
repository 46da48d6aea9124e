// Segmented f32 reductions in a 256-thread workgroup: the workgroup holds 256 / seg rows,
// `seg` (a power of two, uniform) threads each; thread t is lane t % seg of its row. Every
// thread of the workgroup must call them (they hold barriers): call only from uniform
// control flow. Each returns the row's result to all its lanes.
var<workgroup> tree_sh: array<f32, 256>;

// max that propagates NaN (like NumPy's maximum); both operands tested on the bits, since
// some drivers (Mesa's GL) do not keep `b > a` false for a NaN `a`
fn max_nan(a: f32, b: f32) -> f32 {
    return select(select(select(a, b, b > a), b, is_nan_f32(b)), a, is_nan_f32(a));
}

fn tree_sum(v: f32, t: u32, seg: u32) -> f32 {
    let lane = t % seg;
    tree_sh[t] = v;
    workgroupBarrier();
    for (var s = seg / 2u; s > 0u; s = s >> 1u) {
        if (lane < s) {
            tree_sh[t] = tree_sh[t] + tree_sh[t + s];
        }
        workgroupBarrier();
    }
    let r = tree_sh[t - lane];
    workgroupBarrier();
    return r;
}

fn tree_max(v: f32, t: u32, seg: u32) -> f32 {
    let lane = t % seg;
    tree_sh[t] = v;
    workgroupBarrier();
    for (var s = seg / 2u; s > 0u; s = s >> 1u) {
        if (lane < s) {
            tree_sh[t] = max_nan(tree_sh[t], tree_sh[t + s]);
        }
        workgroupBarrier();
    }
    let r = tree_sh[t - lane];
    workgroupBarrier();
    return r;
}
