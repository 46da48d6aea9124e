// z = EXPR(c, x, y) elementwise with broadcasting by strides: where(cond, a, b) and other
// three-input maps. $TCOND/$TA/$TB/$TZ: storage types; $TC: the type `x` and `y` compute in;
// $EXPR: the op on `c: $TCOND, x, y: $TC` giving a $TZ value.
$ENABLE
//!include index
//!include math

struct Params {
    shape: array<vec4<u32>, 2>,
    sc: array<vec4<i32>, 2>,
    sa: array<vec4<i32>, 2>,
    sb: array<vec4<i32>, 2>,
    sz: array<vec4<i32>, 2>,
    n: u32,
    rank: u32,
    oc: u32,
    oa: u32,
    ob: u32,
    oz: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> C: array<$TCOND>;
@group(0) @binding(2) var<storage, read> A: array<$TA>;
@group(0) @binding(3) var<storage, read> B: array<$TB>;
@group(0) @binding(4) var<storage, read_write> Z: array<$TZ>;

const CONTIGUOUS: bool = $CONTIGUOUS;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var ic = p.oc + i;
    var ia = p.oa + i;
    var ib = p.ob + i;
    var iz = p.oz + i;
    if (!CONTIGUOUS) {
        ic = strided_offset(i, p.rank, p.shape, p.sc, p.oc);
        ia = strided_offset(i, p.rank, p.shape, p.sa, p.oa);
        ib = strided_offset(i, p.rank, p.shape, p.sb, p.ob);
        iz = strided_offset(i, p.rank, p.shape, p.sz, p.oz);
    }
    let c = C[ic];
    let x = $TC(A[ia]);
    let y = $TC(B[ib]);
    Z[iz] = $EXPR;
}
