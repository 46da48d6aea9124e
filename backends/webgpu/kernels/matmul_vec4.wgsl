// matmul.wgsl with vec4 global loads: A and B are each read 4 elements at a time along
// whichever of their two matrix axes has stride 1 (the caller checks that axis's length,
// the other strides and the offsets are multiples of 4). Transposed operands (x @ w.T,
// g.T @ x) load vectors along K and scatter them into the tile.
$ENABLE
//!include index
//!include matmul_params

@group(0) @binding(1) var<storage, read> A: array<vec4<$TS>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<$TS>>;
@group(0) @binding(3) var<storage, read_write> C: array<$TO>;

var<private> abase: i32;
var<private> bbase: i32;

fn begin(z: u32) {
    abase = i32(strided_offset(z, p.brank, p.bshape, p.sa, p.oa));
    bbase = i32(strided_offset(z, p.brank, p.bshape, p.sb, p.ob));
}

fn fill_a(t: u32, m0: u32, k0: u32) {
    for (var i = t; i < BM * BK / 4u; i = i + NT) {
        var v = vec4<$TC>(0);
        if (p.a_vec_k != 0u) {  // 4 consecutive k of one row m
            let k = (i % (BK / 4u)) * 4u;
            let m = i / (BK / 4u);
            if (m0 + m < p.M && k0 + k < p.K) {
                v = vec4<$TC>(A[(abase + i32(m0 + m) * p.a_rs + i32(k0 + k)) / 4]);
            }
            put_a(k, m, v.x);
            put_a(k + 1u, m, v.y);
            put_a(k + 2u, m, v.z);
            put_a(k + 3u, m, v.w);
        } else {  // 4 consecutive m of one k: one whole tile vector
            let m = (i % (BM / 4u)) * 4u;
            let k = i / (BM / 4u);
            if (m0 + m < p.M && k0 + k < p.K) {
                v = vec4<$TC>(A[(abase + i32(m0 + m) + i32(k0 + k) * p.a_cs) / 4]);
            }
            As[k * (BM / 4u) + m / 4u] = v;
        }
    }
}

fn fill_b(t: u32, k0: u32, n0: u32) {
    for (var i = t; i < BK * BN / 4u; i = i + NT) {
        var v = vec4<$TC>(0);
        if (p.b_vec_n != 0u) {  // 4 consecutive n of one k: one whole tile vector
            let n = (i % (BN / 4u)) * 4u;
            let k = i / (BN / 4u);
            if (k0 + k < p.K && n0 + n < p.N) {
                v = vec4<$TC>(B[(bbase + i32(k0 + k) * p.b_rs + i32(n0 + n)) / 4]);
            }
            Bs[k * (BN / 4u) + n / 4u] = v;
        } else {  // 4 consecutive k of one column n
            let k = (i % (BK / 4u)) * 4u;
            let n = i / (BK / 4u);
            if (k0 + k < p.K && n0 + n < p.N) {
                v = vec4<$TC>(B[(bbase + i32(k0 + k) + i32(n0 + n) * p.b_cs) / 4]);
            }
            put_b(k, n, v.x);
            put_b(k + 1u, n, v.y);
            put_b(k + 2u, n, v.z);
            put_b(k + 3u, n, v.w);
        }
    }
}

fn store_c(z: u32, m: u32, n: u32, v: $TC) {
    C[c_index(z, m, n)] = $TO(v * $TC(p.alpha));
}

//!include matmul_tile
