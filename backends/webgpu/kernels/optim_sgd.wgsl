// SGD step in place over flat buffers (backends/optim_kernels.py's sgd_step, op for op, in
// f32): P param, G grad (read), B momentum buffer (a dummy when there is none, never read).
// Flags: 1 maximize, 2 weight decay, 4 momentum, 8 first step (buffer = grad), 16 nesterov,
// 32 dampening.
$ENABLE
//!include index

struct Params {
    n: u32,
    op: u32,
    og: u32,
    ob: u32,
    flags: u32,
    lr: f32,
    momentum: f32,
    damp1: f32,  // 1 - dampening
    wd: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> P: array<$T>;
@group(0) @binding(2) var<storage, read> G: array<$T>;
@group(0) @binding(3) var<storage, read_write> B: array<$T>;

fn flag(bit: u32) -> bool {
    return (p.flags & bit) != 0u;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_id(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let pv = f32(P[p.op + i]);
    var g = f32(G[p.og + i]);
    if (flag(1u)) {
        g = -g;
    }
    if (flag(2u)) {
        g = g + pv * p.wd;
    }
    if (flag(4u)) {
        var b = g;
        if (!flag(8u)) {
            b = f32(B[p.ob + i]) * p.momentum;
            if (flag(32u)) {
                b = b + g * p.damp1;
            } else {
                b = b + g;
            }
        }
        b = f32($T(b));
        B[p.ob + i] = $T(b);
        if (flag(16u)) {
            g = g + b * p.momentum;
        } else {
            g = b;
        }
    }
    P[p.op + i] = $T(pv - g * p.lr);
}
