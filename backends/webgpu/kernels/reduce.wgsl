// Reduce rows of length K (the reduced axes of a view permuted last, row-major) to one
// value each. $TX: input storage type, $TC: its compute type, $TA: the accumulator type,
// $TY: output storage type; $MAP: `x: $TC` -> $TA; $COMBINE: `a, b: $TA` -> $TA (associative
// and commutative); $INIT: its identity; $FINAL: `a: $TA` -> $TY.
// Work items are (row, chunk) pairs: with p.nchunks > 1 the outputs are partials that a
// second dispatch reduces (long rows, or too few rows to fill the GPU). Item order is
// row-major, or chunk-major when p.cmajor != 0 (column reductions: adjacent threads then
// read adjacent rows, which are adjacent in memory). PER_THREAD: one thread per item.
// Otherwise p.seg threads (a power of two up to 256) per item, 256 / seg items per
// workgroup: a strided loop per thread, then a shared-memory tree over the segment.
$ENABLE
//!include index
//!include nan

// A strided view is described as its kept dims (rshape/rstrides, rank rrank) and its reduced
// dims (kshape/kstrides, rank krank), each collapsed: a row's first element is found once,
// and one reduced dim (the usual case) costs a multiply per element, no div/mod.
struct Params {
    rshape: array<vec4<u32>, 2>,
    rstrides: array<vec4<i32>, 2>,
    kshape: array<vec4<u32>, 2>,
    kstrides: array<vec4<i32>, 2>,
    rows: u32,
    k: u32,
    chunk: u32,
    nchunks: u32,
    rrank: u32,
    krank: u32,
    off: u32,
    seg: u32,
    cmajor: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read_write> Y: array<$TY>;

const CONTIGUOUS: bool = $CONTIGUOUS;
const PER_THREAD: bool = $PER_THREAD;
const WG: u32 = 256u;

var<workgroup> sh: array<$TA, 256>;

fn row_base(row: u32) -> u32 {
    if (CONTIGUOUS) {
        return p.off + row * p.k;
    }
    return strided_offset(row, p.rrank, p.rshape, p.rstrides, p.off);
}

fn load(base: u32, k: u32) -> $TA {
    var j = base + k;
    if (!CONTIGUOUS) {
        if (p.krank == 1u) {
            j = u32(i32(base) + i32(k) * p.kstrides[0][0]);
        } else {
            j = u32(i32(base) + i32(strided_offset(k, p.krank, p.kshape, p.kstrides, 0u)));
        }
    }
    let x = $TC(X[j]);
    return $MAP;
}

fn combine(a: $TA, b: $TA) -> $TA {
    return $COMBINE;
}

fn finish(a: $TA) -> $TY {
    return $FINAL;
}

// (offset of the item's row, start and end of its chunk)
fn bounds(item: u32) -> vec3<u32> {
    var row = item / p.nchunks;
    var c = item % p.nchunks;
    if (p.cmajor != 0u) {
        row = item % p.rows;
        c = item / p.rows;
    }
    let start = c * p.chunk;
    return vec3<u32>(row_base(row), start, min(p.k, start + p.chunk));
}

fn per_thread(item: u32) {
    if (item < p.rows * p.nchunks) {
        let b = bounds(item);
        var a: $TA = $INIT;
        for (var k = b.y; k < b.z; k = k + 1u) {
            a = combine(a, load(b.x, k));
        }
        Y[item] = finish(a);
    }
}

fn per_group(w: u32, t: u32) {
    let lane = t % p.seg;
    let item = w * (WG / p.seg) + t / p.seg;
    let live = item < p.rows * p.nchunks;
    var a: $TA = $INIT;
    if (live) {
        let b = bounds(item);
        for (var k = b.y + lane; k < b.z; k = k + p.seg) {
            a = combine(a, load(b.x, k));
        }
    }
    sh[t] = a;
    workgroupBarrier();
    for (var s = p.seg / 2u; s > 0u; s = s >> 1u) {
        if (lane < s) {
            sh[t] = combine(sh[t], sh[t + s]);
        }
        workgroupBarrier();
    }
    if (live && lane == 0u) {
        Y[item] = finish(sh[t]);
    }
}

//!include row_main
