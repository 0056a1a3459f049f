"""Batched matrix products through oneDNN (the attention blocks' q.k and attn.v, :mod:`goldyolo.ops.onednn_source`
``matmul_forward``), in bf16 under the convolutions' bf16 precision; their gradients are the same products of
the transposed operands. Jittor's ``jt.matmul`` runs instead on CUDA, for other data types, for operands that
broadcast, with Jittor's backend, and for an ONNX trace."""
from __future__ import annotations

import math

from ..runtime import jt
from .conv import _code, backend, precision


def _onednn(a, b) -> bool:
    """Whether ``a @ b`` runs through oneDNN: float32 Vars on the CPU with the same leading dimensions."""
    return (backend() == "onednn" and not jt.flags.use_cuda and isinstance(a, jt.Var) and isinstance(b, jt.Var)
            and a.dtype == "float32" and b.dtype == "float32" and a.ndim == b.ndim >= 2
            and tuple(a.shape[:-2]) == tuple(b.shape[:-2]) and a.shape[-1] == b.shape[-2])


def _transposed(x):
    """``x`` with its last two axes swapped."""
    order = list(range(x.ndim))
    order[-2], order[-1] = order[-1], order[-2]
    return x.permute(*order)


class OneDNNMatmul(jt.Function):
    """c = a @ b with oneDNN over the leading (batch) dimensions.

    Args:
        a: (..., M, K) float32.
        b: (..., K, N) float32, the same leading dimensions.
        bf16: whether the product rounds its inputs to bf16 (float32 sums and result).
    Returns:
        (..., M, N) float32.
    """

    def execute(self, a, b, bf16: bool = False):
        self.saved, self.bf16 = (a, b), bf16  # the gradients keep the forward's precision
        lead, (m, k), n = tuple(a.shape[:-2]), tuple(a.shape[-2:]), b.shape[-1]
        batch = math.prod(lead) if lead else 1
        data = dict(batch=batch, m=m, k=k, n=n, bf16=int(bf16))
        call = ("goldyolo_dnnl::matmul_forward((long)data[\"batch\"], (long)data[\"m\"], (long)data[\"k\"], "
                "(long)data[\"n\"], data[\"bf16\"] != 0, in0_p, in1_p, out0_p);")
        out = _code([(batch, m, n)], ["float32"], [a.reshape((batch, m, k)), b.reshape((batch, k, n))], call, data,
                    geometry="")[0]
        return out.reshape(lead + (m, n))

    def grad(self, grad_out):
        a, b = self.saved
        return (OneDNNMatmul.apply(grad_out, _transposed(b), self.bf16),
                OneDNNMatmul.apply(_transposed(a), grad_out, self.bf16))


def matmul(a, b):
    """``a @ b`` (batched over the leading dimensions), through oneDNN where :func:`_onednn` allows."""
    if _onednn(a, b):
        return OneDNNMatmul.apply(a, b, precision() == "bf16")
    return jt.matmul(a, b)
