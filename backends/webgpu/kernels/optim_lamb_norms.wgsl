// LAMB, stage 2 of 3: per parameter (segment s = [OFF[s], OFF[s + 1]) of the flat buffers),
// the sums of squares of the weights P and of the update U, into NORM[2s], NORM[2s + 1].
// One workgroup per segment, a shared-memory tree over its 256 threads, f32 accumulation.
$ENABLE
//!include index

struct Params {
    nseg: u32,
    op: u32,
    ou: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> P: array<$T>;
@group(0) @binding(2) var<storage, read> U: array<$T>;
@group(0) @binding(3) var<storage, read> OFF: array<u32>;
@group(0) @binding(4) var<storage, read_write> NORM: array<f32>;

var<workgroup> bounds: vec2<u32>;
var<workgroup> sw: array<f32, 256>;
var<workgroup> su: array<f32, 256>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let s = wid.x + wid.y * nwg.x;
    if (s >= p.nseg) {
        return;
    }
    if (t == 0u) {
        bounds = vec2<u32>(OFF[s], OFF[s + 1u]);
    }
    // the segment bounds come from a storage buffer: make them uniform for the barriers
    let b = workgroupUniformLoad(&bounds);
    var aw = 0.0;
    var au = 0.0;
    for (var j = b.x + t; j < b.y; j = j + 256u) {
        let w = f32(P[p.op + j]);
        let u = f32(U[p.ou + j]);
        aw = aw + w * w;
        au = au + u * u;
    }
    sw[t] = aw;
    su[t] = au;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k = k >> 1u) {
        if (t < k) {
            sw[t] = sw[t] + sw[t + k];
            su[t] = su[t] + su[t + k];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        NORM[2u * s] = sw[0];
        NORM[2u * s + 1u] = su[0];
    }
}
