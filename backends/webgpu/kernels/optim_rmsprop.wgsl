// RMSprop step in place over flat buffers (optim_kernels.py's rmsprop_step, in f32): P param,
// G grad (read), SA square_avg, GA grad_avg (centered), B momentum buffer; absent buffers are
// bound to a 16-byte dummy, never read. Flags: 1 maximize, 2 weight decay, 4 centered, 8 momentum,
// 16 lerp weight below 0.5.
$ENABLE
//!include index
//!include math

struct Params {
    n: u32,
    op: u32,
    og: u32,
    osa: u32,
    oga: u32,
    ob: u32,
    flags: u32,
    alpha: f32,
    oma: f32,  // 1 - alpha, also the lerp weight
    w1: f32,  // alpha = 1 - (1 - alpha), torch's second lerp formula
    eps: f32,
    wd: f32,
    momentum: f32,
    lr: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> P: array<$T>;
@group(0) @binding(2) var<storage, read> G: array<$T>;
@group(0) @binding(3) var<storage, read_write> SA: array<$T>;
@group(0) @binding(4) var<storage, read_write> GA: array<$T>;
@group(0) @binding(5) var<storage, read_write> B: array<$T>;

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
    var sa = f32(SA[p.osa + i]) * p.alpha + (g * p.oma) * g;
    sa = f32($T(sa));
    SA[p.osa + i] = $T(sa);
    var avg: f32;
    if (flag(4u)) {
        var ga = f32(GA[p.oga + i]);
        let d = g - ga;
        if (flag(16u)) {
            ga = ga + d * p.oma;
        } else {
            ga = g - d * p.w1;
        }
        ga = f32($T(ga));
        GA[p.oga + i] = $T(ga);
        // sa - ga^2 rounded once (torch's addcmul; the CPU backend subtracts in float64):
        // the difference cancels, so the product must not be rounded first
        avg = sqrt(f32($T(m_sub_prod(sa, ga, ga))));
    } else {
        avg = sqrt(sa);
    }
    avg = avg + p.eps;
    if (flag(8u)) {
        var b = f32(B[p.ob + i]) * p.momentum + g / avg;
        b = f32($T(b));
        B[p.ob + i] = $T(b);
        P[p.op + i] = $T(pv - b * p.lr);
    } else {
        P[p.op + i] = $T(pv + (g * -p.lr) / avg);
    }
}
