// Uniforms shared by the pooling kernels: one thread per output (forward) or per input cell
// (backward); `src` is the array read through strides (x forward, the gradient backward).
struct Params {
    snc: vec4<i32>,     // src strides (N, C, _, _)
    ssp: vec4<i32>,     // src strides (D, H, W, _)
    insp: vec4<u32>,    // pooled input's spatial shape
    outsp: vec4<u32>,   // output spatial shape
    ksz: vec4<u32>,     // window shape
    stride: vec4<i32>,
    dil: vec4<i32>,
    pad: vec4<i32>,     // leading pads
    n: u32,             // threads
    C: u32,
    kk: u32,            // window positions
    P: u32,             // output positions
    Q: u32,             // input positions
    so: u32,            // element offset of src
    div_mode: u32,      // avg: 0 = the scalar `div`, 1 = one divisor per output position
    div: f32,
    lowest: u32,        // max: bits of the padding value (-inf, or the integer minimum)
}

@group(0) @binding(0) var<uniform> p: Params;

fn src_offset(nc: u32, pos: vec3<i32>) -> i32 {
    return i32(p.so) + i32(nc / p.C) * p.snc.x + i32(nc % p.C) * p.snc.y + dot(pos, p.ssp.xyz);
}
