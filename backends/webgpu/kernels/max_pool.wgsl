// Max over each window; also the window offset (row-major in the window) of the first
// maximum, which the backward routes the gradient to. Padding holds `lowest` (-inf) and
// competes like the CPU's padded input; a NaN wins and propagates (its first offset kept).
// NOTE: NaN is tested on the bits: WGSL lets compilers assume no NaN, and llvmpipe folds
// `v != v` to false.
$ENABLE
//!include index
//!include window
//!include pool_params

@group(0) @binding(1) var<storage, read> X: array<$TS>;
@group(0) @binding(2) var<storage, read_write> Y: array<$TS>;
@group(0) @binding(3) var<storage, read_write> I: array<i32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, 256u);
    if (id >= p.n) {
        return;
    }
    let nc = id / p.P;
    let o = unravel3(id % p.P, p.outsp) * p.stride.xyz - p.pad.xyz;
    let lowest = bitcast<$TC>(p.lowest);
    let floats = p.lowest == 0xff800000u;  // -inf padding: a float input
    var best = lowest;
    var best_nan = false;
    var at = 0u;
    for (var r = 0u; r < p.kk; r = r + 1u) {
        let pos = o + unravel3(r, p.ksz) * p.dil.xyz;
        var v = lowest;
        if (inside3(pos, p.insp)) {
            v = $TC(X[src_offset(nc, pos)]);
        }
        let v_nan = floats && (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
        if (r == 0u || (!best_nan && (v_nan || v > best))) {
            best = v;
            best_nan = v_nan;
            at = r;
        }
    }
    Y[id] = $TS(best);
    I[id] = i32(at);
}
