// Window geometry shared by conv and pooling kernels. Spatial shapes travel as vec4<u32>
// (D, H, W, _): 1-d and 2-d problems fill the leading dims with 1.
fn unravel3(i: u32, shape: vec4<u32>) -> vec3<i32> {
    let r = i / shape.z;
    let d = r / shape.y;
    return vec3<i32>(i32(d), i32(r - d * shape.y), i32(i - r * shape.z));
}

fn inside3(pos: vec3<i32>, shape: vec4<u32>) -> bool {
    return all(pos >= vec3<i32>(0)) && all(pos < vec3<i32>(shape.xyz));
}

// The output position whose window puts kernel offset `r` on input position `pos`
// (pos = o * stride + r * dil - pad), or -1 components when none does.
fn source3(pos: vec3<i32>, r: vec3<i32>, stride: vec4<i32>, dil: vec4<i32>, pad: vec4<i32>, out: vec4<u32>) -> vec3<i32> {
    let t = pos + pad.xyz - r * dil.xyz;
    if (any(t < vec3<i32>(0))) {
        return vec3<i32>(-1);
    }
    var o = t;
    if (any(stride.xyz != vec3<i32>(1))) {
        let u = vec3<u32>(t);
        let s = vec3<u32>(stride.xyz);
        o = vec3<i32>(u / s);
    }
    if (any(t - o * stride.xyz != vec3<i32>(0)) || any(o >= vec3<i32>(out.xyz))) {
        return vec3<i32>(-1);
    }
    return o;
}
