// y = OP(x) elementwise, for any strided input and output view (casts and copies too).
// $TX/$TY: storage types; $TC: compute type; $EXPR: the op on `x: $TC` giving a $TY value;
// p.s0/p.s1: float scalars some ops use (clip bounds, a slope).
$ENABLE
//!include index
//!include math

struct Params {
    shape: array<vec4<u32>, 2>,
    sx: array<vec4<i32>, 2>,
    sy: array<vec4<i32>, 2>,
    n: u32,
    rank: u32,
    ox: u32,
    oy: u32,
    s0: f32,
    s1: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read_write> Y: array<$TY>;

const CONTIGUOUS: bool = $CONTIGUOUS;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var ix = p.ox + i;
    var iy = p.oy + i;
    if (!CONTIGUOUS) {
        let o = strided_offset3(i, p.rank, p.shape, p.sx, p.sy, p.sy, vec3<u32>(p.ox, p.oy, 0u));
        ix = o.x;
        iy = o.y;
    }
    let x = $TC(X[ix]);
    Y[iy] = $EXPR;
}
