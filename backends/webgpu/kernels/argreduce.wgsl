// argmax/argmin over rows of length K (the reduced axis of a view permuted last).
// $TX: input storage type, $TC: compute type; $BETTER: `vb, va: $TC` -> bool (b beats a);
// $ISNAN: `v: $TC` -> bool. The first occurrence wins ties; the first NaN wins over any
// number (NumPy's rule). Output: the index as i32 (int64 is held as i32).
// PER_THREAD: a thread per row; else p.seg threads (a power of two up to 256) per row, 256 /
// seg rows per workgroup, with a shared-memory tree over each segment.
$ENABLE
//!include index
//!include nan

struct Params {
    shape: array<vec4<u32>, 2>,
    strides: array<vec4<i32>, 2>,
    rows: u32,
    k: u32,
    rank: u32,
    off: u32,
    seg: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<$TX>;
@group(0) @binding(2) var<storage, read_write> Y: array<i32>;

const CONTIGUOUS: bool = $CONTIGUOUS;
const PER_THREAD: bool = $PER_THREAD;
const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;

var<workgroup> sv: array<$TC, 256>;
var<workgroup> si: array<u32, 256>;

fn load(i: u32) -> $TC {
    var j = p.off + i;
    if (!CONTIGUOUS) {
        j = strided_offset(i, p.rank, p.shape, p.strides, p.off);
    }
    return $TC(X[j]);
}

fn isnan_v(v: $TC) -> bool {
    return $ISNAN;
}

// whether candidate (vb, ib) replaces (va, ia)
fn take_b(va: $TC, ia: u32, vb: $TC, ib: u32) -> bool {
    if (ib == NONE) {
        return false;
    }
    if (ia == NONE) {
        return true;
    }
    let na = isnan_v(va);
    let nb = isnan_v(vb);
    if (na || nb) {
        return nb && (!na || ib < ia);
    }
    return ($BETTER) || (vb == va && ib < ia);
}

fn per_thread(row: u32) {
    if (row < p.rows) {
        let base = row * p.k;
        var bv = load(base);
        var bi = 0u;
        for (var k = 1u; k < p.k; k = k + 1u) {
            let v = load(base + k);
            if (take_b(bv, bi, v, k)) {
                bv = v;
                bi = k;
            }
        }
        Y[row] = i32(bi);
    }
}

fn per_group(w: u32, t: u32) {
    let lane = t % p.seg;
    let row = w * (WG / p.seg) + t / p.seg;
    let live = row < p.rows;
    var bv: $TC;
    var bi = NONE;
    if (live) {
        let base = row * p.k;
        for (var k = lane; k < p.k; k = k + p.seg) {
            let v = load(base + k);
            if (take_b(bv, bi, v, k)) {
                bv = v;
                bi = k;
            }
        }
    }
    sv[t] = bv;
    si[t] = bi;
    workgroupBarrier();
    for (var s = p.seg / 2u; s > 0u; s = s >> 1u) {
        if (lane < s && take_b(sv[t], si[t], sv[t + s], si[t + s])) {
            sv[t] = sv[t + s];
            si[t] = si[t + s];
        }
        workgroupBarrier();
    }
    if (live && lane == 0u) {
        Y[row] = i32(si[t]);
    }
}

//!include row_main
