// The coordinates of the nonzero elements of a strided view M, in row-major order:
// C is the inclusive running count of nonzeros (a scan over M), so element i, when nonzero,
// is row C[i] - 1 of OUT (count, rank), i32 (int64 is held as i32). $NONZERO: the test on
// `x: $TC` (floats by their bits: NaN counts, -0.0 does not).
$ENABLE
//!include index

struct Params {
    shape: array<vec4<u32>, 2>,
    sm: array<vec4<i32>, 2>,
    n: u32,
    rank: u32,
    om: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> M: array<$TX>;
@group(0) @binding(2) var<storage, read> C: array<i32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<i32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let x = $TC(M[strided_offset(i, p.rank, p.shape, p.sm, p.om)]);
    if (!$NONZERO) {
        return;
    }
    let row = u32(C[i] - 1);
    var rem = i;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let s = p.shape[u32(d) / 4u][u32(d) % 4u];
        OUT[row * p.rank + u32(d)] = i32(rem % s);
        rem = rem / s;
    }
}
