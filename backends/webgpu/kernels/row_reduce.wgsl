// Workgroup-wide (64 threads) sum and max for row kernels: call from uniform control flow.
var<workgroup> red: array<f32, 64>;

fn wg_sum(v: f32, l: u32) -> f32 {
    red[l] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (l < s) {
            red[l] = red[l] + red[l + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

fn wg_max(v: f32, l: u32) -> f32 {
    red[l] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (l < s) {
            red[l] = max(red[l], red[l + s]);
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}
