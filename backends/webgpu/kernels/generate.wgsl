// Y[i] = EXPR(i) for a fresh contiguous array: full-free creation (arange, linspace, eye,
// triangle masks). $TY: storage type; $EXPR: a $TY value from the index `i` and the params
// (a, b, c: f32 values; ia, ib, k: i32; m: a row length; half: linspace's turning index).
$ENABLE
//!include index
//!include math

struct Params {
    n: u32,
    m: u32,
    half: u32,
    k: i32,
    a: f32,
    b: f32,
    c: f32,
    ia: i32,
    ib: i32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Y: array<$TY>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    Y[i] = $EXPR;
}
