// The entry point of the row kernels (reductions, scans, softmax, layer_norm): workgroup w
// (folded over x and y past 65,535) runs rows through the including file's
// `per_thread(row)` (PER_THREAD: a thread per short row) or `per_group(w, lane)` (p.seg
// threads per row, wg_tree.wgsl). The file defines PER_THREAD and WG (256).
@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let w = wid.x + wid.y * nwg.x;
    if (PER_THREAD) {
        per_thread(w * WG + lid.x);
    } else {
        per_group(w, lid.x);
    }
}
