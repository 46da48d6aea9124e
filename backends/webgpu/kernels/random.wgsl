// Random numbers from Philox4x32-10: thread t turns the block counter (c0 + t, c1, c2, c3)
// under the key into 4 words and writes elements 4t .. 4t + 3. The wisp (seed, counter) pair
// is the key and the high counter words, so a stream is fully determined by it.
// $TY: storage type; $KIND: 0 uniform [0, 1) * a + b, 1 normal * a + b (Box-Muller),
// 2 integers ia + floor(u32 * range / 2^32) (range 0: all 2^32 values), 3 raw words.
// $FITF / $FITI convert the f32 (kinds 0, 1) or i32 (kind 2) value `v` to $TY.
$ENABLE
//!include index
//!include math
//!include philox

struct Params {
    key: vec2<u32>,
    n: u32,
    c0: u32,
    c1: u32,
    c2: u32,
    c3: u32,
    range: u32,
    ia: i32,
    a: f32,
    b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Y: array<$TY>;

const KIND: u32 = $KIND;
const TWO_PI: f32 = 6.283185307179586;

fn to_unit(w: u32) -> f32 {
    return f32(w >> 8u) * 5.9604644775390625e-8;  // the top 24 bits: [0, 1) exactly
}

fn store(j: u32, w: u32, f: f32) {
    if (j >= p.n) {
        return;
    }
    if (KIND == 3u) {
        Y[j] = $TY(w);
    } else if (KIND == 2u) {
        let v = p.ia + i32(select(philox_mulhi(w, p.range), w, p.range == 0u));
        Y[j] = $FITI;
    } else {
        let v = f * p.a + p.b;
        Y[j] = $FITF;
    }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = linear_id(gid, nwg, 64u);
    if (4u * t >= p.n) {
        return;
    }
    let w = philox4x32_10(vec4<u32>(p.c0 + t, p.c1, p.c2, p.c3), p.key);
    var f = vec4<f32>(to_unit(w.x), to_unit(w.y), to_unit(w.z), to_unit(w.w));
    if (KIND == 1u) {
        // (0, 1] for the log, [0, 1) for the angle: two normals per pair of words
        let r0 = sqrt(-2.0 * log(f.x + 5.9604644775390625e-8));
        let r1 = sqrt(-2.0 * log(f.z + 5.9604644775390625e-8));
        let t0 = TWO_PI * f.y;
        let t1 = TWO_PI * f.w;
        f = vec4<f32>(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
    }
    store(4u * t, w.x, f.x);
    store(4u * t + 1u, w.y, f.y);
    store(4u * t + 2u, w.z, f.z);
    store(4u * t + 3u, w.w, f.w);
}
