// The frame of matmul_reg.wgsl and matmul_reg4.wgsl: batched matmul without workgroup
// memory or barriers. The grid is linear over (z, row block, column block), columns
// fastest; each invocation (its private `acc` starts at zero) calls the including
// file's `accumulate(m0, n0, abase, bbase)` for its MB x 4 block of C = A @ B at batch index
// z, then stores alpha * acc, skipping out-of-range rows and columns. The including file
// declares A, B, C and `accumulate`; uniforms are matmul.wgsl's (matmul_params.wgsl).
const WG: u32 = ${WG}u;  // invocations per workgroup (fewer for small grids)
const MB: u32 = ${MB}u;  // rows per invocation

var<private> split_id: u32;  // c_index's split-K offset: always 0 here
var<private> acc: array<vec4<$TC>, MB>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    let nblk = (p.N + 3u) / 4u;
    let mblk = (p.M + MB - 1u) / MB;
    let zz = id / (nblk * mblk);
    if (zz >= p.nz) {
        return;
    }
    let z = zz + p.z0;
    let rest = id - zz * nblk * mblk;
    let m0 = (rest / nblk) * MB;
    let n0 = (rest % nblk) * 4u;
    let abase = i32(strided_offset(z, p.brank, p.bshape, p.sa, p.oa));
    let bbase = i32(strided_offset(z, p.brank, p.bshape, p.sb, p.ob));
    accumulate(m0, n0, abase, bbase);
    for (var i = 0u; i < MB; i = i + 1u) {
        let m = m0 + i;
        if (m < p.M) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                if (n0 + j < p.N) {
                    C[c_index(z, m, n0 + j)] = $TO(acc[i][j] * $TC(p.alpha));
                }
            }
        }
    }
}
