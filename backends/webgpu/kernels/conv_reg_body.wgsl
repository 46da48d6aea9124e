// The body of conv_reg.wgsl and conv_reg4.wgsl: convolution forward without workgroup
// memory or barriers, for software adapters (SwiftShader, lavapipe). Each invocation
// computes an MB x 4 block of one (sample, group)'s implicit GEMM W[g] (Og, Cg*K) @ cols
// (Cg*K, P) (MB output channels x 4 output positions), reading the input straight from
// storage. The 4 positions' window origins are computed once; the K loop walks channels
// and kernel offsets as nested loops (no division per k). The grid is linear over
// (z, channel block, position block), positions fastest; `sstride` holds the number of z
// in this dispatch (from z0). The including file declares X, W, Bias, Y, `const MB`,
// `var<private> acc: array<vec4<$TC>, MB>` and:
//   w_begin(gi, m0)           per-invocation weight setup
//   w_fma(gi, m0, k, b)       acc[i] += W[gi * og + m0 + i, k] * b for i < MB
//!include conv_act
const WG: u32 = ${WG}u;  // invocations per workgroup (fewer for small grids)
// INSIDE: no padding, so every window lies inside the input (the output size guarantees
// it): the taps skip the bounds checks and read at (position base + tap offset).
const INSIDE: bool = $INSIDE;

fn xval(base: i32, pos: vec3<i32>, ok: bool) -> $TC {
    if (ok && inside3(pos, p.insp)) {
        return $TC(X[base + dot(pos, p.xsp.xyz)]);
    }
    return $TC(0);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    let nblk = (p.N + 3u) / 4u;
    let mblk = (p.M + MB - 1u) / MB;
    let zz = id / (nblk * mblk);
    let z = zz + p.z0;
    if (zz >= p.sstride) {  // sstride: the number of z in this dispatch
        return;
    }
    let rest = id - zz * nblk * mblk;
    let m0 = (rest / nblk) * MB;
    let n0 = (rest % nblk) * 4u;
    let nb = z / p.groups;
    let gi = z % p.groups;
    // window origins of the 4 positions (position n0 + j)
    var org: array<vec3<i32>, 4>;
    var ok: array<bool, 4>;
    for (var j = 0u; j < 4u; j = j + 1u) {
        let n = min(n0 + j, p.N - 1u);
        org[j] = unravel3(n, p.outsp) * p.stride.xyz - p.pad.xyz;
        ok[j] = n0 + j < p.N;
    }
    w_begin(gi, m0);
    var kidx = 0u;
    // INSIDE: each position's window origin as an offset (the clamped tail positions
    // read valid data that is never stored)
    let xo = vec4<i32>(
        dot(org[0], p.xsp.xyz),
        dot(org[1], p.xsp.xyz),
        dot(org[2], p.xsp.xyz),
        dot(org[3], p.xsp.xyz),
    );
    for (var c = 0u; c < p.cg; c = c + 1u) {
        let xb = i32(p.ox) + i32(nb) * p.xnc.x + i32(gi * p.cg + c) * p.xnc.y;
        let xc = xo + vec4<i32>(xb);
        for (var kd = 0u; kd < p.ksz.x; kd = kd + 1u) {
            for (var kh = 0u; kh < p.ksz.y; kh = kh + 1u) {
                for (var kw = 0u; kw < p.ksz.z; kw = kw + 1u) {
                    let r = vec3<i32>(i32(kd), i32(kh), i32(kw)) * p.dil.xyz;
                    var b: vec4<$TC>;
                    if (INSIDE) {
                        let t = xc + vec4<i32>(dot(r, p.xsp.xyz));
                        b = vec4<$TC>($TC(X[t.x]), $TC(X[t.y]), $TC(X[t.z]), $TC(X[t.w]));
                    } else {
                        b = vec4<$TC>(
                            xval(xb, org[0] + r, ok[0]),
                            xval(xb, org[1] + r, ok[1]),
                            xval(xb, org[2] + r, ok[2]),
                            xval(xb, org[3] + r, ok[3]),
                        );
                    }
                    w_fma(gi, m0, kidx, b);
                    kidx = kidx + 1u;
                }
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
