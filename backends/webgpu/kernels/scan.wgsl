// Cumulative $COMBINE (cumsum, cumprod) along rows of length K: the scanned axes of a view
// permuted last. Input X and output Y are both strided views of the same (permuted) shape.
// EXCLUSIVE: y[k] combines x[0..k) (else x[0..k]); REVERSE: scan from the row's end.
// $MAP: `x: $TC` -> $TA, $INIT: identity of $COMBINE (`a, b: $TA`), $FINAL: `a` -> $TY.
// Work items are (row, chunk) pairs, row-major: with p.nchunks > 1 (long rows, few of them;
// forward scans only) PRE holds each chunk's exclusive prefix (a reduction of the chunk
// totals, then a scan of those), else PRE is an unread stand-in. PER_THREAD: a thread per
// item. Otherwise p.seg threads (a power of two up to 256) per item, 256 / seg items per
// workgroup: each thread scans a piece of ceil(len / seg) elements twice (its total, then
// the outputs) around a shared-memory Hillis-Steele scan of the segment's piece totals.
$ENABLE
//!include index

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
    chunk: u32,
    nchunks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read_write> Y: array<$TY>;
@group(0) @binding(3) var<storage, read> PRE: array<$TA>;

const CONTIGUOUS: bool = $CONTIGUOUS;
const PER_THREAD: bool = $PER_THREAD;
const EXCLUSIVE: bool = $EXCLUSIVE;
const REVERSE: bool = $REVERSE;
const CHUNKED: bool = $CHUNKED;
const WG: u32 = 256u;

var<workgroup> sh: array<$TA, 256>;

fn pos(row: u32, k: u32) -> u32 {
    if (REVERSE) {
        return row * p.k + p.k - 1u - k;
    }
    return row * p.k + k;
}

fn load(i: u32) -> $TA {
    var j = p.ox + i;
    if (!CONTIGUOUS) {
        j = strided_offset(i, p.rank, p.shape, p.sx, p.ox);
    }
    let x = $TC(X[j]);
    return $MAP;
}

fn store(i: u32, a: $TA) {
    var j = p.oy + i;
    if (!CONTIGUOUS) {
        j = strided_offset(i, p.rank, p.shape, p.sy, p.oy);
    }
    Y[j] = $FINAL;
}

fn combine(a: $TA, b: $TA) -> $TA {
    return $COMBINE;
}

fn scan_range(row: u32, start: u32, end: u32, prefix: $TA) {
    var acc = prefix;
    for (var k = start; k < end; k = k + 1u) {
        let i = pos(row, k);
        let v = load(i);
        if (EXCLUSIVE) {
            store(i, acc);
            acc = combine(acc, v);
        } else {
            acc = combine(acc, v);
            store(i, acc);
        }
    }
}

// (row, start, end) of an item's chunk, and the prefix the chunks before it carry
fn item_range(item: u32) -> vec3<u32> {
    let c = item % p.nchunks;
    let start = c * p.chunk;
    return vec3<u32>(item / p.nchunks, start, min(p.k, start + p.chunk));
}

fn item_prefix(item: u32) -> $TA {
    if (CHUNKED) {
        return PRE[item];
    }
    return $INIT;
}

fn per_thread(item: u32) {
    if (item < p.rows * p.nchunks) {
        let r = item_range(item);
        scan_range(r.x, r.y, r.z, item_prefix(item));
    }
}

fn per_group(w: u32, t: u32) {
    let lane = t % p.seg;
    let item = w * (WG / p.seg) + t / p.seg;
    let live = item < p.rows * p.nchunks;
    var r = vec3<u32>(0u, 0u, 0u);
    if (live) {
        r = item_range(item);
    }
    let piece = (r.z - r.y + p.seg - 1u) / p.seg;
    let start = min(r.z, r.y + lane * piece);
    let end = min(r.z, start + piece);
    var total: $TA = $INIT;
    for (var k = start; k < end; k = k + 1u) {
        total = combine(total, load(pos(r.x, k)));
    }
    sh[t] = total;
    workgroupBarrier();
    for (var s = 1u; s < p.seg; s = s << 1u) {
        var v = sh[t];
        if (lane >= s) {
            v = combine(sh[t - s], v);
        }
        workgroupBarrier();
        sh[t] = v;
        workgroupBarrier();
    }
    if (live) {
        var prefix = item_prefix(item);
        if (lane > 0u) {
            prefix = combine(prefix, sh[t - 1u]);
        }
        scan_range(r.x, start, end, prefix);
    }
}

//!include row_main
