// Shared index math: the element offset of linear index `i` in a strided view of rank <= 8.
// Shapes and strides travel in uniforms as two vec4s each (dims beyond rank are unused).
fn strided_offset(i: u32, rank: u32, shape: array<vec4<u32>, 2>, strides: array<vec4<i32>, 2>, base: u32) -> u32 {
    var rem = i;
    var off = i32(base);
    for (var d = i32(rank) - 1; d >= 0; d = d - 1) {
        let q = u32(d) / 4u;
        let r = u32(d) % 4u;
        let s = shape[q][r];
        off = off + i32(rem % s) * strides[q][r];
        rem = rem / s;
    }
    return u32(off);
}

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
    return gid.x + gid.y * nwg.x * wg;
}
