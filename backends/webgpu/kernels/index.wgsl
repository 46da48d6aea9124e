// Shared index math: the element offset of linear index `i` in a strided view of rank <= 8.
// Shapes and strides travel in uniforms as two vec4s each (dims beyond rank are unused).
// a / b for index math. NOTE: CPU adapters (SwiftShader, lavapipe) run integer division
// one lane at a time, ~10x the cost of the rest of an elementwise kernel; below 2^24 the
// quotient comes from a float division (exact operands; WGSL allows 2.5 ulp of error,
// under 1 here) and one integer correction step.
fn udiv(a: u32, b: u32) -> u32 {
    if (a >= 16777216u) {
        return a / b;
    }
    var q = u32(f32(a) / f32(b));
    if (q * b > a) {
        q = q - 1u;
    } else if ((q + 1u) * b <= a) {
        q = q + 1u;
    }
    return q;
}

fn strided_offset(i: u32, rank: u32, shape: array<vec4<u32>, 2>, strides: array<vec4<i32>, 2>, base: u32) -> u32 {
    return strided_offset3(i, rank, shape, strides, strides, strides, vec3<u32>(base)).x;
}

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
    return gid.x + gid.y * nwg.x * wg;
}

// The offsets of linear index `i` in three views of one shape (binary ops: x, y, z), one
// division per dim for all three. NOTE: unrolled over the 8 dims with constant component
// indices (dims >= rank skipped, so the innermost goes first): a loop indexing the uniform
// vectors dynamically runs ~10x slower on CPU adapters.
fn off_step(rem: ptr<function, u32>, off: ptr<function, vec3<i32>>, live: bool, s: u32, st: vec3<i32>) {
    if (live && *rem != 0u) {
        let next = udiv(*rem, s);
        *off = *off + i32(*rem - next * s) * st;
        *rem = next;
    }
}

fn strided_offset3(i: u32, rank: u32, shape: array<vec4<u32>, 2>, s0: array<vec4<i32>, 2>, s1: array<vec4<i32>, 2>, s2: array<vec4<i32>, 2>, base: vec3<u32>) -> vec3<u32> {
    var rem = i;
    var off = vec3<i32>(base);
    let h0 = shape[0];
    let h1 = shape[1];
    let a0 = s0[0];
    let a1 = s0[1];
    let b0 = s1[0];
    let b1 = s1[1];
    let c0 = s2[0];
    let c1 = s2[1];
    off_step(&rem, &off, rank > 7u, h1.w, vec3<i32>(a1.w, b1.w, c1.w));
    off_step(&rem, &off, rank > 6u, h1.z, vec3<i32>(a1.z, b1.z, c1.z));
    off_step(&rem, &off, rank > 5u, h1.y, vec3<i32>(a1.y, b1.y, c1.y));
    off_step(&rem, &off, rank > 4u, h1.x, vec3<i32>(a1.x, b1.x, c1.x));
    off_step(&rem, &off, rank > 3u, h0.w, vec3<i32>(a0.w, b0.w, c0.w));
    off_step(&rem, &off, rank > 2u, h0.z, vec3<i32>(a0.z, b0.z, c0.z));
    off_step(&rem, &off, rank > 1u, h0.y, vec3<i32>(a0.y, b0.y, c0.y));
    off_step(&rem, &off, rank > 0u, h0.x, vec3<i32>(a0.x, b0.x, c0.x));
    return vec3<u32>(off);
}
