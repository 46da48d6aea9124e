// Adagrad step in place over flat buffers (optim_kernels.py's adagrad_step, in f32): P param,
// G grad (read), S state sum. Flags: 1 maximize, 2 weight decay.
$ENABLE
//!include index

struct Params {
    n: u32,
    op: u32,
    og: u32,
    os: u32,
    flags: u32,
    clr: f32,
    eps: f32,
    wd: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> P: array<$T>;
@group(0) @binding(2) var<storage, read> G: array<$T>;
@group(0) @binding(3) var<storage, read_write> S: array<$T>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let pv = f32(P[p.op + i]);
    var g = f32(G[p.og + i]);
    if ((p.flags & 1u) != 0u) {
        g = -g;
    }
    if ((p.flags & 2u) != 0u) {
        g = g + pv * p.wd;
    }
    var s = f32(S[p.os + i]) + g * g;
    s = f32($T(s));
    S[p.os + i] = $T(s);
    P[p.op + i] = $T(pv + (g * -p.clr) / (sqrt(s) + p.eps));
}
