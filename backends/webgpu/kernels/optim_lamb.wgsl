// LAMB, stage 1 of 3 (optim_kernels.py's lamb_step, in f32): update the moments M, V in place
// and write the Adam direction (+ weight decay) into G, which held the gradient.
// Flags: 1 maximize, 2 grad averaging, 4 weight decay.
$ENABLE
//!include index

struct Params {
    n: u32,
    op: u32,
    og: u32,
    om: u32,
    ov: u32,
    flags: u32,
    beta1: f32,
    omb1: f32,  // 1 - beta1
    beta2: f32,
    omb2: f32,  // 1 - beta2
    bc1: f32,
    bc2: f32,  // sqrt(bias_correction2)
    eps: f32,
    wd: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> P: array<$T>;
@group(0) @binding(2) var<storage, read_write> G: array<$T>;
@group(0) @binding(3) var<storage, read_write> M: array<$T>;
@group(0) @binding(4) var<storage, read_write> V: array<$T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var g = f32(G[p.og + i]);
    if ((p.flags & 1u) != 0u) {
        g = -g;
    }
    var m = f32(M[p.om + i]) * p.beta1;
    if ((p.flags & 2u) != 0u) {
        m = m + g * p.omb1;
    } else {
        m = m + g;
    }
    m = f32($T(m));
    M[p.om + i] = $T(m);
    var v = f32(V[p.ov + i]) * p.beta2 + (g * p.omb2) * g;
    v = f32($T(v));
    V[p.ov + i] = $T(v);
    var u = (m / p.bc1) / (sqrt(v) / p.bc2 + p.eps);
    if ((p.flags & 4u) != 0u) {
        u = u + f32(P[p.op + i]) * p.wd;
    }
    G[p.og + i] = $T(u);
}
