"""What a backend implements: the primitive names the core calls, grouped as in DESIGN §3.

A backend is any object with these methods over its own buffer type (buffers expose
`.shape` and `.ndim`). `tests/backends/test_interface.py` checks every registered backend
against this list, so a new device finds out what is missing from a test, not a user.
"""

MEMORY = (
    "from_host wrap to_host tolist item format full empty arange linspace eye uniform normal "
    "randint randperm cast copy contiguous writable assign exclusive storage_key dtype_name"
).split()
UNARY = (
    "neg exp expm1 log log1p sqrt rsqrt sin cos tanh sigmoid relu erf abs sign recip floor "
    "ceil round logical_not bitwise_not isnan isinf"
).split()
BINARY = (
    "add iadd sub mul div floordiv remainder pow maximum minimum eq ne lt le gt ge "
    "logical_and logical_or logical_xor bitwise_and bitwise_or bitwise_xor where clip"
).split()
REDUCE = "sum prod max min argmax argmin any all exclusive_prod cumsum cumprod sum_to_shape".split()
MOVEMENT = (
    "reshape permute expand getitem setitem index_backward pad cat stack flip gather "
    "scatter_add index_select index_add tril triu nonzero"
).split()
COMPUTE = (
    "matmul swap_last einsum softmax softmax_backward log_softmax log_softmax_backward "
    "layer_norm layer_norm_backward conv conv_weight_grad conv_input_grad max_pool "
    "max_pool_backward avg_pool avg_pool_backward attention attention_backward"
).split()
# In-place updates over flat buffers for wisp.optim (backends/optim_kernels.py).
OPTIM = "flat_gather flat_scatter sgd_step adam_step rmsprop_step adagrad_step lamb_step".split()

PRIMITIVES: tuple[str, ...] = tuple(MEMORY + UNARY + BINARY + REDUCE + MOVEMENT + COMPUTE + OPTIM)


def missing(backend: object) -> list[str]:
    """Primitive names `backend` does not implement."""
    return [name for name in PRIMITIVES if not callable(getattr(backend, name, None))]
