// The epilogue of the register-blocked convolutions: $RELU fuses a following relu (the edge
// executor's conv2d -> relu) into the store, saving a pass over the output. Same values as
// m_relu (math.wgsl): negatives and -0 become 0, NaN stays NaN.
const RELU: bool = $RELU;

fn conv_act(v: f32) -> f32 {
    if (RELU) {
        return select(v, 0.0, bitcast<u32>(v) - 0x80000001u < 0x7f800000u);
    }
    return v;
}
