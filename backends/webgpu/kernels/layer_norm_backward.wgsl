// dx of layer_norm over rows of length D, in f32:
//   gx = g * w;  dx = (gx - mean(gx) - xhat * mean(gx * xhat)) * rstd
// G is any strided view (row-major linear index = row * D + d); XHAT contiguous, RSTD one
// per row, W contiguous (D,) (HAS_W false: the W binding holds G and is never read).
// PER_THREAD: a thread per row (short rows); else p.seg threads per row (wg_tree.wgsl).
$ENABLE
//!include index
//!include nan
//!include wg_tree

struct Params {
    shape: array<vec4<u32>, 2>,
    sg: array<vec4<i32>, 2>,
    rows: u32,
    d: u32,
    rank: u32,
    og: u32,
    ow: u32,
    seg: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<$TG>;
@group(0) @binding(2) var<storage, read> XHAT: array<$TX>;
@group(0) @binding(3) var<storage, read> RSTD: array<$TX>;
@group(0) @binding(4) var<storage, read> W: array<$TW>;
@group(0) @binding(5) var<storage, read_write> DX: array<$TG>;

const CONTIGUOUS: bool = $CONTIGUOUS;
const PER_THREAD: bool = $PER_THREAD;
const HAS_W: bool = $HAS_W;
const WG: u32 = 256u;

fn gx(i: u32, k: u32) -> f32 {
    var j = p.og + i;
    if (!CONTIGUOUS) {
        j = strided_offset(i, p.rank, p.shape, p.sg, p.og);
    }
    var g = f32(G[j]);
    if (HAS_W) {
        g = g * f32(W[p.ow + k]);
    }
    return g;
}

fn write_row(row: u32, first: u32, step: u32, mg: f32, mgx: f32) {
    let base = row * p.d;
    let rstd = f32(RSTD[row]);
    for (var k = first; k < p.d; k = k + step) {
        let xh = f32(XHAT[base + k]);
        DX[base + k] = $TG((gx(base + k, k) - mg - xh * mgx) * rstd);
    }
}

fn per_thread(row: u32) {
    if (row < p.rows) {
        let base = row * p.d;
        var s = 0.0;
        var sx = 0.0;
        for (var k = 0u; k < p.d; k = k + 1u) {
            let g = gx(base + k, k);
            s = s + g;
            sx = sx + g * f32(XHAT[base + k]);
        }
        let n = f32(p.d);
        write_row(row, 0u, 1u, s / n, sx / n);
    }
}

fn per_group(w: u32, t: u32) {
    let lane = t % p.seg;
    let row = w * (WG / p.seg) + t / p.seg;
    let live = row < p.rows;
    let base = row * p.d;
    var s = 0.0;
    var sx = 0.0;
    if (live) {
        for (var k = lane; k < p.d; k = k + p.seg) {
            let g = gx(base + k, k);
            s = s + g;
            sx = sx + g * f32(XHAT[base + k]);
        }
    }
    let n = f32(p.d);
    let mg = tree_sum(s, t, p.seg) / n;
    let mgx = tree_sum(sx, t, p.seg) / n;
    if (live) {
        write_row(row, lane, p.seg, mg, mgx);
    }
}

//!include row_main
