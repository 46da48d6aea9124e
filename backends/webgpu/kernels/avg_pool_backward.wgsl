// Gradient of avg_pool, gathered per input cell: the sum of g / divisor over the windows
// covering the cell.
$ENABLE
//!include index
//!include window
//!include pool_params

@group(0) @binding(1) var<storage, read> G: array<$TS>;
@group(0) @binding(2) var<storage, read> D: array<$TS>;
@group(0) @binding(3) var<storage, read_write> DX: array<$TS>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, 256u);
    if (id >= p.n) {
        return;
    }
    let nc = id / p.Q;
    let xi = unravel3(id % p.Q, p.insp);
    var acc = $TC(0);
    for (var r = 0u; r < p.kk; r = r + 1u) {
        let o = source3(xi, unravel3(r, p.ksz), p.stride, p.dil, p.pad, p.outsp);
        if (o.x >= 0) {
            let op = (u32(o.x) * p.outsp.y + u32(o.y)) * p.outsp.z + u32(o.z);
            var d = $TC(p.div);
            if (p.div_mode != 0u) {
                d = $TC(D[op]);
            }
            acc = acc + $TC(G[src_offset(nc, o)]) / d;
        }
    }
    DX[id] = $TS(acc);
}
