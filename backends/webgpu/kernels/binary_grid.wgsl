// z = OP(x, y) over views merged to at most 3 dims (broadcast dims have stride 0): the
// grid form of binary.wgsl, one invocation per element with its (inner, middle, outer)
// index read straight from the 3-d grid (no division, no loop over dims: a (N, C, H, W) +
// (1, C, 1, 1) bias or a (B, F) + (F,) row bias runs near the contiguous kernel's speed on
// CPU adapters). $WX x $WY invocations per workgroup (WX covers the inner dim).
$ENABLE
//!include math

struct Params {
    shape: vec4<u32>,  // inner, middle, outer sizes; w unused
    sx: vec4<i32>,  // strides of the same dims
    sy: vec4<i32>,
    sz: vec4<i32>,
    ox: u32,
    oy: u32,
    oz: u32,
    s0: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read> Y: array<$TY>;
@group(0) @binding(3) var<storage, read_write> Z: array<$TZ>;

@compute @workgroup_size($WX, $WY)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.shape.x || gid.y >= p.shape.y) {
        return;
    }
    let g = vec3<i32>(gid);
    let ix = i32(p.ox) + g.x * p.sx.x + g.y * p.sx.y + g.z * p.sx.z;
    let iy = i32(p.oy) + g.x * p.sy.x + g.y * p.sy.y + g.z * p.sy.z;
    let iz = i32(p.oz) + g.x * p.sz.x + g.y * p.sz.y + g.z * p.sz.z;
    let x = $TC(X[u32(ix)]);
    let y = $TC(Y[u32(iy)]);
    Z[u32(iz)] = $EXPR;
}
