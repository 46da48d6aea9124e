// LAMB, stage 3 of 3: P -= lr * ratio * U, the trust ratio ||w|| / ||u|| of the element's
// segment (found by binary search in OFF) or 1 when a norm is 0; capped at 1 by trust_clip.
// Flags: 1 adapt (else the ratio is 1 and NORM/OFF are not read), 2 trust clip.
$ENABLE
//!include index

struct Params {
    n: u32,
    op: u32,
    ou: u32,
    nseg: u32,
    flags: u32,
    lr: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> P: array<$T>;
@group(0) @binding(2) var<storage, read> U: array<$T>;
@group(0) @binding(3) var<storage, read> OFF: array<u32>;
@group(0) @binding(4) var<storage, read> NORM: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var u = f32(U[p.ou + i]);
    if ((p.flags & 1u) != 0u) {
        // the last segment starting at or before i (empty segments share its start)
        var lo = 0u;
        var hi = p.nseg - 1u;
        while (lo < hi) {
            let mid = (lo + hi + 1u) / 2u;
            if (OFF[mid] <= i) {
                lo = mid;
            } else {
                hi = mid - 1u;
            }
        }
        let wn = sqrt(NORM[2u * lo]);
        let un = sqrt(NORM[2u * lo + 1u]);
        var ratio = select(1.0, wn / un, wn > 0.0 && un > 0.0);
        if ((p.flags & 2u) != 0u) {
            ratio = min(ratio, 1.0);
        }
        u = f32($T(u * f32($T(ratio))));
    }
    P[p.op + i] = $T(f32(P[p.op + i]) - u * p.lr);
}
