// layer_norm over rows of length D (the last axes): mean, then the two-pass variance (stable
// for large means), then xhat = (x - mean) * rstd and y = xhat * w + b, in f32.
// Writes Y and XHAT (contiguous, x's shape) and RSTD (one per row) for the backward.
// X is any strided view (row-major linear index = row * D + d); W and B contiguous (D,).
// HAS_W/HAS_B: without them the W/B bindings hold X and are never read.
// PER_THREAD: a thread per row (short rows); else p.seg threads per row (wg_tree.wgsl).
$ENABLE
//!include index
//!include nan
//!include wg_tree

struct Params {
    shape: array<vec4<u32>, 2>,
    sx: array<vec4<i32>, 2>,
    rows: u32,
    d: u32,
    rank: u32,
    ox: u32,
    ow: u32,
    ob: u32,
    eps: f32,
    seg: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read> W: array<$TW>;
@group(0) @binding(3) var<storage, read> B: array<$TB>;
@group(0) @binding(4) var<storage, read_write> Y: array<$TX>;
@group(0) @binding(5) var<storage, read_write> XHAT: array<$TX>;
@group(0) @binding(6) var<storage, read_write> RSTD: array<$TX>;

const CONTIGUOUS: bool = $CONTIGUOUS;
const PER_THREAD: bool = $PER_THREAD;
const HAS_W: bool = $HAS_W;
const HAS_B: bool = $HAS_B;
const WG: u32 = 256u;

fn load(i: u32) -> f32 {
    var j = p.ox + i;
    if (!CONTIGUOUS) {
        j = strided_offset(i, p.rank, p.shape, p.sx, p.ox);
    }
    return f32(X[j]);
}

fn write_row(base: u32, first: u32, step: u32, mean: f32, rstd: f32) {
    for (var k = first; k < p.d; k = k + step) {
        let xh = (load(base + k) - mean) * rstd;
        var y = xh;
        if (HAS_W) {
            y = y * f32(W[p.ow + k]);
        }
        if (HAS_B) {
            y = y + f32(B[p.ob + k]);
        }
        XHAT[base + k] = $TX(xh);
        Y[base + k] = $TX(y);
    }
}

fn per_thread(row: u32) {
    if (row < p.rows) {
        let base = row * p.d;
        let n = f32(p.d);
        var s = 0.0;
        for (var k = 0u; k < p.d; k = k + 1u) {
            s = s + load(base + k);
        }
        let mean = s / n;
        var v = 0.0;
        for (var k = 0u; k < p.d; k = k + 1u) {
            let c = load(base + k) - mean;
            v = v + c * c;
        }
        let rstd = 1.0 / sqrt(v / n + p.eps);
        RSTD[row] = $TX(rstd);
        write_row(base, 0u, 1u, mean, rstd);
    }
}

fn per_group(w: u32, t: u32) {
    let lane = t % p.seg;
    let row = w * (WG / p.seg) + t / p.seg;
    let live = row < p.rows;
    let base = row * p.d;
    let n = f32(p.d);
    var s = 0.0;
    if (live) {
        for (var k = lane; k < p.d; k = k + p.seg) {
            s = s + load(base + k);
        }
    }
    let mean = tree_sum(s, t, p.seg) / n;
    var v = 0.0;
    if (live) {
        for (var k = lane; k < p.d; k = k + p.seg) {
            let c = load(base + k) - mean;
            v = v + c * c;
        }
    }
    let rstd = 1.0 / sqrt(tree_sum(v, t, p.seg) / n + p.eps);
    if (live) {
        if (lane == 0u) {
            RSTD[row] = $TX(rstd);
        }
        write_row(base, lane, p.seg, mean, rstd);
    }
}

//!include row_main
