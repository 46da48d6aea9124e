// Y[i] = X[base + sum_d c_d * sx_d + OFF[sum_d c_d * so_d]] for the coordinates c of i in
// Y's (contiguous) shape: advanced indexing, index_select and gather all reduce to this
// once `index_offsets` has turned their index arrays into element offsets OFF.
$ENABLE
//!include index

struct Params {
    shape: array<vec4<u32>, 2>,
    sx: array<vec4<i32>, 2>,
    so: array<vec4<i32>, 2>,
    n: u32,
    rank: u32,
    base: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read> OFF: array<i32>;
@group(0) @binding(3) var<storage, read_write> Y: array<$TX>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let o = OFF[strided_offset(i, p.rank, p.shape, p.so, 0u)];
    let j = i32(strided_offset(i, p.rank, p.shape, p.sx, p.base)) + o;
    Y[i] = X[u32(j)];
}
