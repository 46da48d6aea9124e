// Element offsets from an index array, for gathers and scatters:
//   OFF[i] (+)= wrap(IDX[i]) * p.stride  over the (broadcast) index shape, OFF contiguous i32.
// wrap: a negative index counts from the end (NumPy); out-of-range indices are CLAMPED to
// [0, dim - 1] (the GPU cannot raise; see ops_index.py). $TI: the index storage type.
// ACCUMULATE (p.acc != 0): add to OFF (several index arrays), else overwrite it.
$ENABLE
//!include index

struct Params {
    shape: array<vec4<u32>, 2>,
    si: array<vec4<i32>, 2>,
    n: u32,
    rank: u32,
    oi: u32,
    dim: i32,
    stride: i32,
    acc: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> IDX: array<$TI>;
@group(0) @binding(2) var<storage, read_write> OFF: array<i32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var v = i32(IDX[strided_offset(i, p.rank, p.shape, p.si, p.oi)]);
    if (v < 0) {
        v = v + p.dim;
    }
    v = clamp(v, 0, p.dim - 1);
    var o = v * p.stride;
    if (p.acc != 0u) {
        o = o + OFF[i];
    }
    OFF[i] = o;
}
