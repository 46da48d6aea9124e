// Shared f32 math for the elementwise kernels (all compute in f32; float16 storage too).
// - NaN tests are bit tests: shader compilers may assume NaN never occurs and fold `x != x`.
// - max/min propagate NaN like NumPy (WGSL's max/min may return the other operand).
// - log1p, expm1, tanh and log near 1 avoid the cancellation of the naive formulas (WGSL
//   only promises an absolute 2^-21 for log on [0.5, 2]); erf is Eigen's float32 rational.
// - Python/torch division rules: floor division and modulo take the sign of the divisor,
//   integer division by zero gives 0 (NumPy), a negative base has a real power only for an
//   integer exponent, and int ** negative int truncates 1 / a^n like torch.

fn m_isnan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn m_isinf(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u;
}

// NaN is true (like NumPy's bool(nan)); both zeros are false.
fn m_truthy(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) != 0u;
}

fn m_signbit(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x80000000u) != 0u;
}

// NOTE: from a `var`: a const-expression that evaluates to inf or NaN is a shader-creation
// error in WGSL (browsers' Tint enforces it; naga lets it pass).
fn m_nan() -> f32 {
    var bits = 0x7fc00000u;
    return bitcast<f32>(bits);
}

fn m_inf() -> f32 {
    var bits = 0x7f800000u;
    return bitcast<f32>(bits);
}

fn m_max(x: f32, y: f32) -> f32 {
    return select(select(max(x, y), y, m_isnan(y)), x, m_isnan(x));
}

fn m_min(x: f32, y: f32) -> f32 {
    return select(select(min(x, y), y, m_isnan(y)), x, m_isnan(x));
}

// Ordered comparisons: false whenever an operand is NaN (ne is the negation of eq).
fn m_eq(x: f32, y: f32) -> bool {
    return !(m_isnan(x) || m_isnan(y)) && x == y;
}

fn m_lt(x: f32, y: f32) -> bool {
    return !(m_isnan(x) || m_isnan(y)) && x < y;
}

fn m_le(x: f32, y: f32) -> bool {
    return !(m_isnan(x) || m_isnan(y)) && x <= y;
}

// relu keeping NaN: only a negative non-NaN value (bits 0x80000001..0xff800000) becomes 0.
fn m_relu(x: f32) -> f32 {
    return select(x, 0.0, bitcast<u32>(x) - 0x80000001u < 0x7f800000u);
}

fn m_sign(x: f32) -> f32 {
    return select(sign(x), x, m_isnan(x));
}

// Stable for both signs: exp never sees a large positive argument.
fn m_sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// exp(x) - 1: Taylor series to x^9/9! below |x| = 0.5 (truncation < 3e-10 relative).
fn m_expm1(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        return x * (1.0 + x * (0.5 + x * (1.6666667e-1 + x * (4.1666668e-2 + x * (8.3333338e-3
            + x * (1.3888889e-3 + x * (1.9841270e-4 + x * (2.4801588e-5 + x * 2.7557319e-6))))))));
    }
    return exp(x) - 1.0;
}

// log(1 + x) for |x| < 0.5 as 2 atanh(s), s = x / (2 + x), |s| <= 1/3 (series to s^15).
fn m_log1p_small(x: f32) -> f32 {
    let s = x / (2.0 + x);
    let s2 = s * s;
    return 2.0 * s * (1.0 + s2 * (3.3333334e-1 + s2 * (0.2 + s2 * (1.4285715e-1 + s2 * (
        1.1111111e-1 + s2 * (9.0909094e-2 + s2 * (7.6923080e-2 + s2 * 6.6666670e-2)))))));
}

fn m_log1p(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        return m_log1p_small(x);
    }
    return log(1.0 + x);
}

// log with full relative precision near 1 (x - 1 is exact there, Sterbenz).
fn m_log(x: f32) -> f32 {
    if (abs(x - 1.0) < 0.5) {
        return m_log1p_small(x - 1.0);
    }
    return log(x);
}

// tanh through expm1: exact for tiny |x| (x - ... cancels in the exp formula), 1 for large.
fn m_tanh(x: f32) -> f32 {
    if (m_isnan(x)) {
        return x;
    }
    let t = m_expm1(-2.0 * abs(x));
    let r = -t / (2.0 + t);
    return select(r, -r, m_signbit(x));
}

// Eigen's float32 erf (generic_fast_erf_float), the same rational as the CPU backend's
// `_erf32`: odd/even polynomials in x on [-4, 4], +-1 beyond; ~3 ulp.
fn m_erf(a: f32) -> f32 {
    if (m_isnan(a)) {
        return a;
    }
    let x = clamp(a, -4.0, 4.0);
    let x2 = x * x;
    var p = -2.72614225801306e-10 * x2;
    p = (p + 2.77068142495902e-08) * x2;
    p = (p + -2.10102402082508e-06) * x2;
    p = (p + -5.69250639462346e-05) * x2;
    p = (p + -7.34990630326855e-04) * x2;
    p = (p + -2.95459980854025e-03) * x2;
    p = (p + -1.60960333262415e-02) * x;
    var q = -1.45660718464996e-05 * x2;
    q = (q + -2.13374055278905e-04) * x2;
    q = (q + -1.68282697438203e-03) * x2;
    q = (q + -7.37332916720468e-03) * x2;
    q = q + -1.42647390514189e-02;
    return p / q;
}

// a * b = p + e exactly (Dekker's two-product). WGSL's fma() may be unfused (lavapipe's is),
// so exact products are built from halves: masking the low 12 mantissa bits splits each
// operand into two 12-bit halves whose products are exact; no compiler contraction can
// change any step (every partial product is exact).
fn m_two_prod(a: f32, b: f32) -> vec2<f32> {
    let p = a * b;
    let ah = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
    let al = a - ah;
    let bh = bitcast<f32>(bitcast<u32>(b) & 0xfffff000u);
    let bl = b - bh;
    let e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    return vec2<f32>(p, e);
}

// c - a * b rounded once, without relying on fma: for c near a * b the first difference is
// exact (Sterbenz) and the error term is subtracted once.
fn m_sub_prod(c: f32, a: f32, b: f32) -> f32 {
    let t = m_two_prod(a, b);
    return (c - t.x) - t.y;
}

// C's fmod (exact): the remainder of a / b with the sign of a; NaN for b == 0 or a = +-inf.
// Long division by |b| * 2^k, k stepping down so every partial quotient is below 2^23: each
// step's remainder is an exact fmod, hence representable, and m_sub_prod computes it exactly.
fn m_fmod(a: f32, b: f32) -> f32 {
    if (b == 0.0 || m_isinf(a) || m_isnan(a) || m_isnan(b)) {
        return m_nan();
    }
    let ab = abs(b);
    var r = abs(a);
    if (m_isinf(b) || r < ab) {
        return a;
    }
    let eb = i32((bitcast<u32>(ab) >> 23u) & 0xffu);
    for (var it = 0; it < 16 && r >= ab; it = it + 1) {
        let er = i32((bitcast<u32>(r) >> 23u) & 0xffu);
        let bb = ldexp(ab, max(er - eb - 22, 0));
        let q = trunc(r / bb);
        r = m_sub_prod(r, q, bb);
        // r / bb rounded across an integer: the quotient was one off
        if (r < 0.0) {
            r = r + bb;
        } else if (r >= bb) {
            r = r - bb;
        }
    }
    return select(r, -r, m_signbit(a));
}

// Python's a % b (NumPy remainder, torch.remainder): the sign of b; 0 gets b's sign.
fn m_remainder(a: f32, b: f32) -> f32 {
    var r = m_fmod(a, b);
    if (m_isnan(r)) {
        return r;
    }
    if (r != 0.0) {
        if ((b < 0.0) != (r < 0.0)) {
            r = r + b;
        }
    } else {
        r = select(0.0, bitcast<f32>(0x80000000u), b < 0.0);
    }
    return r;
}

// Python's a // b (NumPy's npy_divmod, torch's div_floor_floating).
fn m_floordiv(a: f32, b: f32) -> f32 {
    if (b == 0.0) {
        return a / b;
    }
    let r = m_fmod(a, b);
    if (m_isnan(r)) {
        return r;
    }
    var d = (a - r) / b;
    if (r != 0.0 && ((b < 0.0) != (r < 0.0))) {
        d = d - 1.0;
    }
    if (d == 0.0) {
        return select(0.0, bitcast<f32>(0x80000000u), m_signbit(a) != m_signbit(b));
    }
    var f = floor(d);
    if (d - f > 0.5) {
        f = f + 1.0;
    }
    return f;
}

// x ** y with C/NumPy's special cases; a negative base needs an integer exponent.
fn m_pow(x: f32, y: f32) -> f32 {
    if (y == 0.0 || x == 1.0) {
        return 1.0;
    }
    if (m_isnan(x) || m_isnan(y)) {
        return m_nan();
    }
    if (y == 1.0) {
        return x;
    }
    if (y == 2.0) {
        return x * x;
    }
    let ax = abs(x);
    if (m_isinf(y)) {
        if (ax == 1.0) {
            return 1.0;
        }
        return select(0.0, m_inf(), (ax > 1.0) == (y > 0.0));
    }
    let yint = floor(y) == y;
    let odd = yint && abs(y) < 16777216.0 && y - 2.0 * floor(0.5 * y) == 1.0;
    if (m_isinf(ax)) {  // -inf too: +-inf or +-0, the sign only for an odd exponent
        let r = select(0.0, m_inf(), y > 0.0);
        return select(r, -r, odd && x < 0.0);
    }
    if (x < 0.0 && !yint) {
        return m_nan();
    }
    var r: f32;
    if (ax == 0.0) {
        r = select(m_inf(), 0.0, y > 0.0);
    } else if (y == 0.5) {
        r = sqrt(ax);
    } else {
        r = pow(ax, y);
    }
    // odd integer exponent: the result keeps the base's sign (-0.0 included)
    return select(r, -r, odd && m_signbit(x));
}

// Integer division and modulo, Python style; NumPy gives 0 for a zero divisor.
// Built on unsigned magnitudes only: WGSL defines `/` and `%` on negative i32, but naga's
// GLSL output emits them as GLSL's, where `%` of a negative operand is undefined (Mesa's GL
// adapter gave 7 % -2 == 7). Unsigned division and modulo are defined everywhere.
fn m_iabs_u(a: i32) -> u32 {
    let u = bitcast<u32>(a);
    return select(u, 0u - u, a < 0);  // the most negative value gives 2^31, exactly
}

// C's truncated quotient and remainder (remainder with the dividend's sign); b != 0.
fn m_itrunc_div(a: i32, b: i32) -> i32 {
    let q = m_iabs_u(a) / m_iabs_u(b);
    return bitcast<i32>(select(q, 0u - q, (a < 0) != (b < 0)));  // wraps for MIN / -1
}

fn m_itrunc_mod(a: i32, b: i32) -> i32 {
    let r = m_iabs_u(a) % m_iabs_u(b);
    return bitcast<i32>(select(r, 0u - r, a < 0));
}

fn m_ifloordiv(a: i32, b: i32) -> i32 {
    if (b == 0) {
        return 0;
    }
    let q = m_itrunc_div(a, b);  // MIN // -1 wraps to MIN, like NumPy (no trap)
    return select(q, q - 1, m_itrunc_mod(a, b) != 0 && ((a < 0) != (b < 0)));
}

fn m_iremainder(a: i32, b: i32) -> i32 {
    if (b == 0) {
        return 0;
    }
    let r = m_itrunc_mod(a, b);
    return select(r, r + b, r != 0 && ((r < 0) != (b < 0)));
}

fn m_udiv(a: u32, b: u32) -> u32 {
    return select(a / max(b, 1u), 0u, b == 0u);
}

fn m_umod(a: u32, b: u32) -> u32 {
    return select(a % max(b, 1u), 0u, b == 0u);
}

// Wrapping integer powers by squaring; a negative exponent truncates 1 / a^n like torch.
fn m_ipow(a: i32, b: i32) -> i32 {
    if (b < 0) {
        if (a == 1) {
            return 1;
        }
        if (a == -1) {
            return select(-1, 1, (b & 1) == 0);
        }
        return 0;
    }
    var r = 1;
    var base = a;
    var e = b;
    loop {
        if (e == 0) {
            break;
        }
        if ((e & 1) != 0) {
            r = r * base;
        }
        base = base * base;
        e = e >> 1u;
    }
    return r;
}

fn m_upow(a: u32, b: u32) -> u32 {
    var r = 1u;
    var base = a;
    var e = b;
    loop {
        if (e == 0u) {
            break;
        }
        if ((e & 1u) != 0u) {
            r = r * base;
        }
        base = base * base;
        e = e >> 1u;
    }
    return r;
}
