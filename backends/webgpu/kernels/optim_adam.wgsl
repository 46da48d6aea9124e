// Adam / AdamW step in place over flat buffers (optim_kernels.py's adam_step, op for op, in
// f32): P param, G grad (read), M exp_avg, V exp_avg_sq, VM max_exp_avg_sq (AMSGrad; a 16-byte
// dummy otherwise, never read). Flags: 1 maximize, 2 weight decay, 4 decoupled, 8 amsgrad,
// 16 lerp weight below 0.5 (torch's lerp picks its formula by the weight).
$ENABLE
//!include index

struct Params {
    n: u32,
    op: u32,
    og: u32,
    om: u32,
    ov: u32,
    ovm: u32,
    flags: u32,
    keep: f32,  // 1 - lr * weight_decay (decoupled)
    wd: f32,
    w: f32,  // 1 - beta1, the lerp weight
    w1: f32,  // 1 - w
    beta2: f32,
    omb2: f32,  // 1 - beta2
    nss: f32,  // -lr / bias_correction1
    bc2: f32,  // sqrt(bias_correction2)
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> P: array<$T>;
@group(0) @binding(2) var<storage, read> G: array<$T>;
@group(0) @binding(3) var<storage, read_write> M: array<$T>;
@group(0) @binding(4) var<storage, read_write> V: array<$T>;
@group(0) @binding(5) var<storage, read_write> VM: array<$T>;

fn flag(bit: u32) -> bool {
    return (p.flags & bit) != 0u;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var pv = f32(P[p.op + i]);
    var g = f32(G[p.og + i]);
    if (flag(1u)) {
        g = -g;
    }
    if (flag(2u)) {
        if (flag(4u)) {
            pv = f32($T(pv * p.keep));
        } else {
            g = g + pv * p.wd;
        }
    }
    var m = f32(M[p.om + i]);
    let d = g - m;
    if (flag(16u)) {
        m = m + d * p.w;
    } else {
        m = g - d * p.w1;
    }
    m = f32($T(m));
    M[p.om + i] = $T(m);
    var v = f32(V[p.ov + i]) * p.beta2 + (g * p.omb2) * g;
    v = f32($T(v));
    V[p.ov + i] = $T(v);
    var second = v;
    if (flag(8u)) {
        second = max(f32(VM[p.ovm + i]), v);
        VM[p.ovm + i] = $T(second);
    }
    let denom = sqrt(second) / p.bc2 + p.eps;
    P[p.op + i] = $T(pv + (m * p.nss) / denom);
}
