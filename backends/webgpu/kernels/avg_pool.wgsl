// Window sums (padding counts as zeros) divided by a scalar or per-position divisor.
$ENABLE
//!include index
//!include window
//!include pool_params

@group(0) @binding(1) var<storage, read> X: array<$TS>;
@group(0) @binding(2) var<storage, read> D: array<$TS>;
@group(0) @binding(3) var<storage, read_write> Y: array<$TS>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, 256u);
    if (id >= p.n) {
        return;
    }
    let nc = id / p.P;
    let o = unravel3(id % p.P, p.outsp) * p.stride.xyz - p.pad.xyz;
    var acc = $TC(0);
    for (var r = 0u; r < p.kk; r = r + 1u) {
        let pos = o + unravel3(r, p.ksz);
        if (inside3(pos, p.insp)) {
            acc = acc + $TC(X[src_offset(nc, pos)]);
        }
    }
    var d = $TC(p.div);
    if (p.div_mode != 0u) {
        d = $TC(D[id % p.P]);
    }
    Y[id] = $TS(acc / d);
}
