// The weight and bias gradients of layer_norm: column sums over the rows, in f32:
//   dw[d] = sum_r g[r, d] * xhat[r, d],  db[d] = sum_r g[r, d]
// One thread per (column d, chunk of rows), chunk-major: adjacent threads read adjacent
// columns. With p.nchunks > 1 the outputs are f32 partials (nchunks, D) that a column sum
// finishes; else $TO is the gradient's storage type. G is any strided view (row-major
// linear index = r * D + d), XHAT contiguous.
$ENABLE
//!include index

struct Params {
    shape: array<vec4<u32>, 2>,
    sg: array<vec4<i32>, 2>,
    rows: u32,
    d: u32,
    rank: u32,
    og: u32,
    chunk: u32,
    nchunks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<$TG>;
@group(0) @binding(2) var<storage, read> XHAT: array<$TX>;
@group(0) @binding(3) var<storage, read_write> DW: array<$TO>;
@group(0) @binding(4) var<storage, read_write> DB: array<$TO>;

const CONTIGUOUS: bool = $CONTIGUOUS;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let item = linear_id(gid, nwg, 256u);
    if (item >= p.d * p.nchunks) {
        return;
    }
    let d = item % p.d;
    let start = (item / p.d) * p.chunk;
    let end = min(p.rows, start + p.chunk);
    var sw = 0.0;
    var sb = 0.0;
    for (var r = start; r < end; r = r + 1u) {
        let i = r * p.d + d;
        var j = p.og + i;
        if (!CONTIGUOUS) {
            j = strided_offset(i, p.rank, p.shape, p.sg, p.og);
        }
        let g = f32(G[j]);
        sw = sw + g * f32(XHAT[i]);
        sb = sb + g;
    }
    DW[item] = $TO(sw);
    DB[item] = $TO(sb);
}
