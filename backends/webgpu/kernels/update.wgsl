// In place: z = EXPR(z, y) over a strided destination view, y broadcast by strides (iadd,
// assign). Y is bound read_write too: WebGPU refuses a buffer bound read-only and read_write
// in one dispatch, and y may share the destination's storage.
// $TY/$TZ: storage types; $TCY/$TCZ: compute types of `y` and `x` (the old z); $EXPR gives a
// $TZ value.
$ENABLE
//!include index
//!include math

struct Params {
    shape: array<vec4<u32>, 2>,
    sy: array<vec4<i32>, 2>,
    sz: array<vec4<i32>, 2>,
    n: u32,
    rank: u32,
    oy: u32,
    oz: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Y: array<$TY>;
@group(0) @binding(2) var<storage, read_write> Z: array<$TZ>;

const CONTIGUOUS: bool = $CONTIGUOUS;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var iy = p.oy + i;
    var iz = p.oz + i;
    if (!CONTIGUOUS) {
        iy = strided_offset(i, p.rank, p.shape, p.sy, p.oy);
        iz = strided_offset(i, p.rank, p.shape, p.sz, p.oz);
    }
    let y = $TCY(Y[iy]);
    let x = $TCZ(Z[iz]);
    Z[iz] = $EXPR;
}
