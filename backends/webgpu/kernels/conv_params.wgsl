// Uniforms shared by conv, conv_wgrad and conv_igrad (implicit GEMMs over matmul_tile.wgsl).
// x: the conv input (N, Cin, *insp); g: the output-shaped array (the output, or its
// gradient), both read through strides; weights (Cout, Cg, *ksz) are contiguous.
struct Params {
    xnc: vec4<i32>,     // x strides (N, C, _, _)
    xsp: vec4<i32>,     // x strides (D, H, W, _)
    gnc: vec4<i32>,     // g strides (N, C, _, _)
    gsp: vec4<i32>,     // g strides (D, H, W, _)
    insp: vec4<u32>,    // input spatial shape
    outsp: vec4<u32>,   // output spatial shape
    ksz: vec4<u32>,     // kernel shape
    stride: vec4<i32>,
    dil: vec4<i32>,
    pad: vec4<i32>,     // leading pads
    M: u32,
    N: u32,
    K: u32,
    z0: u32,
    groups: u32,
    cg: u32,            // input channels per group
    og: u32,            // output channels per group
    kk: u32,            // kernel positions (product of ksz)
    ox: u32,            // element offset of x
    go: u32,            // element offset of g
    has_bias: u32,
    P: u32,             // output positions (product of outsp)
    splits: u32,        // split-K (conv_wgrad): partial sums per weight
    kchunk: u32,
    sstride: u32,       // elements between two splits' partial outputs
}

@group(0) @binding(0) var<uniform> p: Params;
