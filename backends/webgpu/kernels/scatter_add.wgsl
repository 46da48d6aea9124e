// Y[base + sum_d c_d * sy_d + OFF[sum_d c_d * so_d]] += V[strided i] for every element i of
// V's shape (the coordinates c): index_backward, index_add and scatter_add. Repeated
// targets accumulate through atomics, so the summation ORDER (and the last bits of a float
// result) varies from run to run. WGSL has only atomic<i32>/atomic<u32>: FLOAT adds an f32
// with a compare-exchange loop on its bits; integers use atomicAdd ($TA: i32 or u32).
$ENABLE
//!include index

struct Params {
    shape: array<vec4<u32>, 2>,
    sv: array<vec4<i32>, 2>,
    sy: array<vec4<i32>, 2>,
    so: array<vec4<i32>, 2>,
    n: u32,
    rank: u32,
    ov: u32,
    base: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> V: array<$TV>;
@group(0) @binding(2) var<storage, read> OFF: array<i32>;
@group(0) @binding(3) var<storage, read_write> Y: array<atomic<$TA>>;

const FLOAT: bool = $FLOAT;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let v = $TC(V[strided_offset(i, p.rank, p.shape, p.sv, p.ov)]);
    let o = OFF[strided_offset(i, p.rank, p.shape, p.so, 0u)];
    let j = u32(i32(strided_offset(i, p.rank, p.shape, p.sy, p.base)) + o);
    if (FLOAT) {
        var old = atomicLoad(&Y[j]);
        loop {
            let new_bits = bitcast<$TA>(bitcast<f32>(old) + f32(v));
            let r = atomicCompareExchangeWeak(&Y[j], old, new_bits);
            if (r.exchanged) {
                break;
            }
            old = r.old_value;
        }
    } else {
        atomicAdd(&Y[j], $TA(v));
    }
}
