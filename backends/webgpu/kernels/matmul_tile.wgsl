// The body shared by the tiled GEMM kernels (matmul, matmul_vec4, conv and its gradients):
// a workgroup of WX x WY threads computes a BM x BN tile of C = A (M, K) @ B (K, N) for
// batch z; each thread holds a (4*RA) x (4*RB) block in registers (rows
// (ra*WY + lid.y)*4 + i, columns (rb*WX + lid.x)*4 + j); A and B are staged through
// workgroup memory BK = 16 deep ((BM + BN) * 64 bytes: 8 KiB for the 16x16 64x64 tile).
// Thin shapes (conv with 6 channels, GEMMs with few rows) take thin tiles (WY = 1, 2 ...).
// Split-K: workgroup z runs batch z / splits over the K range of chunk z % splits
// (kchunk, a multiple of BK) and the including file's store_c offsets its writes by
// split_id * (its partial stride); the caller sums the partials.
// The including file supplies `struct Params` (with M, N, K, z0, splits, kchunk), its
// bindings and:
//   begin(z)                  per-thread setup for batch z (batch base offsets)
//   fill_a(t, m0, k0)         thread t's share of the A tile [m0, m0+BM) x [k0, k0+BK)
//   fill_b(t, k0, n0)         thread t's share of the B tile [k0, k0+BK) x [n0, n0+BN)
//   store_c(z, m, n, v)       write one result (m < M, n < N)
// Out-of-range tile cells must be filled with 0 (the K loop runs over whole tiles).
// $TC: the accumulation type (f32 for float32/float16, i32 for ints); $WX, $WY, $RA, $RB:
// the tile shape (the Python side sizes the grid with the same numbers).

const WX: u32 = ${WX}u;
const WY: u32 = ${WY}u;
const NT: u32 = WX * WY;
const RA: u32 = ${RA}u;
const RB: u32 = ${RB}u;
const BM: u32 = 4u * WY * RA;
const BN: u32 = 4u * WX * RB;
const BK: u32 = 16u;

var<workgroup> As: array<vec4<$TC>, BK * BM / 4u>;  // [k][m / 4]
var<workgroup> Bs: array<vec4<$TC>, BK * BN / 4u>;  // [k][n / 4]
var<private> split_id: u32;

fn put_a(k: u32, m: u32, v: $TC) {
    As[k * (BM / 4u) + m / 4u][m % 4u] = v;
}

fn put_b(k: u32, n: u32, v: $TC) {
    Bs[k * (BN / 4u) + n / 4u][n % 4u] = v;
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let zz = wid.z + p.z0;
    // NOTE: the K range comes from this `let`, not the private `split_id`: browsers' WGSL
    // compilers (Tint) treat a private variable as non-uniform and refuse the barriers in
    // a loop bounded by it
    let sid = zz % p.splits;
    split_id = sid;
    let z = zz / p.splits;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    let t = lid.y * WX + lid.x;
    begin(z);
    let kb = sid * p.kchunk;
    let ke = min(p.K, kb + p.kchunk);
    var acc: array<vec4<$TC>, 16u * RA * RB>;  // [(ra * 4 + i) * RB + rb]
    for (var k0 = kb; k0 < ke; k0 = k0 + BK) {
        fill_a(t, m0, k0);
        fill_b(t, k0, n0);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk = kk + 1u) {
            for (var ra = 0u; ra < RA; ra = ra + 1u) {
                let a = As[kk * (BM / 4u) + ra * WY + lid.y];
                for (var rb = 0u; rb < RB; rb = rb + 1u) {
                    let b = Bs[kk * (BN / 4u) + rb * WX + lid.x];
                    let c = ra * 4u * RB + rb;
                    acc[c] = acc[c] + a.x * b;
                    acc[c + RB] = acc[c + RB] + a.y * b;
                    acc[c + 2u * RB] = acc[c + 2u * RB] + a.z * b;
                    acc[c + 3u * RB] = acc[c + 3u * RB] + a.w * b;
                }
            }
        }
        workgroupBarrier();
    }
    for (var ra = 0u; ra < RA; ra = ra + 1u) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            let m = m0 + (ra * WY + lid.y) * 4u + i;
            if (m < p.M) {
                for (var rb = 0u; rb < RB; rb = rb + 1u) {
                    for (var j = 0u; j < 4u; j = j + 1u) {
                        let n = n0 + (rb * WX + lid.x) * 4u + j;
                        if (n < p.N) {
                            store_c(z, m, n, acc[(ra * 4u + i) * RB + rb][j]);
                        }
                    }
                }
            }
        }
    }
}
