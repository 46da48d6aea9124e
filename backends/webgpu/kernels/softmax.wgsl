// softmax / log_softmax along rows of length K (the axis of a view permuted last):
// max-subtracted, three reads of the row, computed in f32. X and Y are strided views of the
// same (permuted) shape; $TX/$TY storage types, LOG picks log_softmax.
// PER_THREAD: a thread per row (short rows); else p.seg threads per row (wg_tree.wgsl).
$ENABLE
//!include index
//!include nan
//!include wg_tree

struct Params {
    shape: array<vec4<u32>, 2>,
    sx: array<vec4<i32>, 2>,
    sy: array<vec4<i32>, 2>,
    rows: u32,
    k: u32,
    rank: u32,
    ox: u32,
    oy: u32,
    seg: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read_write> Y: array<$TY>;

const CONTIGUOUS: bool = $CONTIGUOUS;
const PER_THREAD: bool = $PER_THREAD;
const LOG: bool = $LOG;
const WG: u32 = 256u;

fn load(i: u32) -> f32 {
    var j = p.ox + i;
    if (!CONTIGUOUS) {
        j = strided_offset(i, p.rank, p.shape, p.sx, p.ox);
    }
    return f32(X[j]);
}

fn store(i: u32, v: f32) {
    var j = p.oy + i;
    if (!CONTIGUOUS) {
        j = strided_offset(i, p.rank, p.shape, p.sy, p.oy);
    }
    Y[j] = $TY(v);
}

fn write_row(base: u32, first: u32, step: u32, m: f32, s: f32) {
    let ls = log(s);
    for (var k = first; k < p.k; k = k + step) {
        let v = load(base + k) - m;
        if (LOG) {
            store(base + k, v - ls);
        } else {
            store(base + k, exp(v) / s);
        }
    }
}

fn per_thread(row: u32) {
    if (row < p.rows) {
        let base = row * p.k;
        var m = neg_inf_f32();
        for (var k = 0u; k < p.k; k = k + 1u) {
            m = max_nan(m, load(base + k));
        }
        var s = 0.0;
        for (var k = 0u; k < p.k; k = k + 1u) {
            s = s + exp(load(base + k) - m);
        }
        write_row(base, 0u, 1u, m, s);
    }
}

fn per_group(w: u32, t: u32) {
    let lane = t % p.seg;
    let row = w * (WG / p.seg) + t / p.seg;
    let live = row < p.rows;
    let base = row * p.k;
    var m = neg_inf_f32();
    if (live) {
        for (var k = lane; k < p.k; k = k + p.seg) {
            m = max_nan(m, load(base + k));
        }
    }
    m = tree_max(m, t, p.seg);
    var s = 0.0;
    if (live) {
        for (var k = lane; k < p.k; k = k + p.seg) {
            s = s + exp(load(base + k) - m);
        }
    }
    s = tree_sum(s, t, p.seg);
    if (live) {
        write_row(base, lane, p.seg, m, s);
    }
}

//!include row_main
