// y = OP(x) over views merged to at most 3 dims (the driver folds dims that are contiguous
// with each other in every operand). One invocation per element, its (inner, middle, outer)
// index read straight from the 3-d grid: no division (CPU adapters run integer division one
// lane at a time) and no loop over dims, so permuted copies and broadcasts run near the
// contiguous kernel's speed. $WX x $WY invocations per workgroup (WX covers the inner dim).
// Same ops and scalars as unary.wgsl: $EXPR on `x: $TC`, p.s0/p.s1.
$ENABLE
//!include math

struct Params {
    shape: vec4<u32>,  // inner, middle, outer sizes; w unused
    sx: vec4<i32>,  // strides of the same dims
    sy: vec4<i32>,
    ox: u32,
    oy: u32,
    s0: f32,
    s1: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read_write> Y: array<$TY>;

@compute @workgroup_size($WX, $WY)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.shape.x || gid.y >= p.shape.y) {
        return;
    }
    let g = vec3<i32>(gid);
    let ix = i32(p.ox) + g.x * p.sx.x + g.y * p.sx.y + g.z * p.sx.z;
    let iy = i32(p.oy) + g.x * p.sy.x + g.y * p.sy.y + g.z * p.sy.z;
    let x = $TC(X[u32(ix)]);
    Y[u32(iy)] = $EXPR;
}
