// NaN test by bits: WGSL lets implementations assume no NaN in `x != x` comparisons.
fn is_nan_f32(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// +-inf as runtime values (from a `var`): a const-expression that evaluates to inf or NaN is
// a shader-creation error in WGSL (browsers' Tint enforces it; naga lets it pass).
fn neg_inf_f32() -> f32 {
    var bits = 0xff800000u;
    return bitcast<f32>(bits);
}

fn pos_inf_f32() -> f32 {
    var bits = 0x7f800000u;
    return bitcast<f32>(bits);
}
