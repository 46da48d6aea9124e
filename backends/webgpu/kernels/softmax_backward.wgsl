// Backward of softmax / log_softmax along rows of length K (the axis permuted last), from
// the forward output Y and the cotangent G (strided views of one permuted shape):
//   softmax:     dx = (g - sum(g * y)) * y
//   log_softmax: dx = g - exp(y) * sum(g)
// One row reduction and one write pass, in f32. PER_THREAD: a thread per row; else p.seg
// threads per row (wg_tree.wgsl).
$ENABLE
//!include index
//!include nan
//!include wg_tree

struct Params {
    shape: array<vec4<u32>, 2>,
    sy: array<vec4<i32>, 2>,
    sg: array<vec4<i32>, 2>,
    so: array<vec4<i32>, 2>,
    rows: u32,
    k: u32,
    rank: u32,
    oy: u32,
    og: u32,
    oo: u32,
    seg: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Y: array<$TX>;
@group(0) @binding(2) var<storage, read> G: array<$TG>;
@group(0) @binding(3) var<storage, read_write> O: array<$TO>;

const CONTIGUOUS: bool = $CONTIGUOUS;
const PER_THREAD: bool = $PER_THREAD;
const LOG: bool = $LOG;
const WG: u32 = 256u;

fn at(i: u32, s: array<vec4<i32>, 2>, base: u32) -> u32 {
    if (CONTIGUOUS) {
        return base + i;
    }
    return strided_offset(i, p.rank, p.shape, s, base);
}

fn term(i: u32) -> f32 {
    let g = f32(G[at(i, p.sg, p.og)]);
    if (LOG) {
        return g;
    }
    return g * f32(Y[at(i, p.sy, p.oy)]);
}

fn write_row(base: u32, first: u32, step: u32, dot: f32) {
    for (var k = first; k < p.k; k = k + step) {
        let i = base + k;
        let y = f32(Y[at(i, p.sy, p.oy)]);
        let g = f32(G[at(i, p.sg, p.og)]);
        var v: f32;
        if (LOG) {
            v = g - exp(y) * dot;
        } else {
            v = (g - dot) * y;
        }
        O[at(i, p.so, p.oo)] = $TO(v);
    }
}

fn per_thread(row: u32) {
    if (row < p.rows) {
        let base = row * p.k;
        var s = 0.0;
        for (var k = 0u; k < p.k; k = k + 1u) {
            s = s + term(base + k);
        }
        write_row(base, 0u, 1u, s);
    }
}

fn per_group(w: u32, t: u32) {
    let lane = t % p.seg;
    let row = w * (WG / p.seg) + t / p.seg;
    let live = row < p.rows;
    let base = row * p.k;
    var s = 0.0;
    if (live) {
        for (var k = lane; k < p.k; k = k + p.seg) {
            s = s + term(base + k);
        }
    }
    s = tree_sum(s, t, p.seg);
    if (live) {
        write_row(base, lane, p.seg, s);
    }
}

//!include row_main
