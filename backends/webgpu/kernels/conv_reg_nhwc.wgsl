// Convolution forward for software adapters, channels-last: no workgroup memory, vec4 loads
// along channels. The caller passes x as an (N, C, *spatial) view of a channels-last copy
// (C stride 1; every other stride, the offset and Cg multiples of 4) and the weights
// contiguous as (Cout, *ksz, Cg). Each invocation computes MB output channels x 4 output
// positions of one (sample, group): per kernel offset it checks the 4 positions' windows
// once, then walks the channels 4 at a time (4 input vectors, MB weight vectors, 16 * MB
// multiply-adds). Output NC(D)HW contiguous; same uniforms as conv.wgsl (conv_params.wgsl),
// `sstride` = the number of z (sample, group) in this dispatch from z0.
$ENABLE
//!include index
//!include window
//!include conv_params
//!include conv_act

@group(0) @binding(1) var<storage, read> X: array<vec4<$TS>>;
@group(0) @binding(2) var<storage, read> W: array<vec4<$TS>>;  // (Cout, *ksz, Cg)
@group(0) @binding(3) var<storage, read> Bias: array<$TS>;
@group(0) @binding(4) var<storage, read_write> Y: array<$TS>;

const WG: u32 = ${WG}u;  // invocations per workgroup (fewer for small grids)
const MB: u32 = ${MB}u;  // output channels per invocation

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    let nblk = (p.N + 3u) / 4u;
    let mblk = (p.M + MB - 1u) / MB;
    let zz = id / (nblk * mblk);
    if (zz >= p.sstride) {
        return;
    }
    let z = zz + p.z0;
    let rest = id - zz * nblk * mblk;
    let m0 = (rest / nblk) * MB;
    let n0 = (rest % nblk) * 4u;
    let nb = z / p.groups;
    let gi = z % p.groups;
    var org: array<vec3<i32>, 4>;
    for (var j = 0u; j < 4u; j = j + 1u) {
        let n = min(n0 + j, p.N - 1u);
        org[j] = unravel3(n, p.outsp) * p.stride.xyz - p.pad.xyz;
    }
    let c4n = p.cg / 4u;
    var wrow: array<u32, MB>;  // vec4 index of each channel's weights (clamped rows)
    for (var i = 0u; i < MB; i = i + 1u) {
        wrow[i] = (gi * p.og + min(m0 + i, p.M - 1u)) * p.kk * c4n;
    }
    let xb = i32(p.ox) + i32(nb) * p.xnc.x + i32(gi * p.cg);
    var acc: array<vec4<$TC>, MB>;
    var rk = 0u;
    for (var kd = 0u; kd < p.ksz.x; kd = kd + 1u) {
        for (var kh = 0u; kh < p.ksz.y; kh = kh + 1u) {
            for (var kw = 0u; kw < p.ksz.z; kw = kw + 1u) {
                let r = vec3<i32>(i32(kd), i32(kh), i32(kw)) * p.dil.xyz;
                var xo: array<i32, 4>;  // vec4 index of each position's channels, -1 outside
                for (var j = 0u; j < 4u; j = j + 1u) {
                    let pos = org[j] + r;
                    xo[j] = select(-1, (xb + dot(pos, p.xsp.xyz)) / 4, inside3(pos, p.insp));
                }
                for (var c4 = 0u; c4 < c4n; c4 = c4 + 1u) {
                    // column j: 4 channels at position n0 + j (zeros outside); NOTE: an
                    // explicit initializer: naga does not re-zero a bare `var` in a loop
                    var xm = mat4x4<$TC>();
                    for (var j = 0u; j < 4u; j = j + 1u) {
                        if (xo[j] >= 0) {
                            xm[j] = vec4<$TC>(X[xo[j] + i32(c4)]);
                        }
                    }
                    let wk = rk * c4n + c4;
                    for (var i = 0u; i < MB; i = i + 1u) {
                        acc[i] = acc[i] + vec4<$TC>(W[wrow[i] + wk]) * xm;
                    }
                }
                rk = rk + 1u;
            }
        }
    }
    for (var i = 0u; i < MB; i = i + 1u) {
        let m = m0 + i;
        if (m < p.M) {
            let o = gi * p.og + m;
            var bias = $TC(0);
            if (p.has_bias != 0u) {
                bias = $TC(Bias[o]);
            }
            let row = (nb * p.groups * p.og + o) * p.N;
            for (var j = 0u; j < 4u; j = j + 1u) {
                if (n0 + j < p.N) {
                    Y[row + n0 + j] = $TS(conv_act(f32(acc[i][j] + bias)));
                }
            }
        }
    }
}
