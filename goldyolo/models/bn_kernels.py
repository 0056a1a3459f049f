"""Training-mode batch norm on the CPU as two OpenMP kernels (forward, backward), one channel per task.

Jittor's own CPU kernels run on one thread; composed of Jittor operations, a training-mode BN
and its gradient take a quarter of a Gold-YOLO-N training step on a 2-core machine. These
kernels compute the same thing in parallel over channels, summing in float64:

* forward: per channel c, mean and biased variance over (N, H, W) (two passes), then
  ``y = x * scale + shift`` with ``scale = w / sqrt(var + eps)``, ``shift = b - mean * scale``;
* backward: ``db = sum(dy)``, ``dw = sum(dy * xhat)`` and
  ``dx = scale * (dy - db / M - xhat * dw / M)`` with ``xhat = (x - mean) / sqrt(var + eps)``,
  M = N*H*W: the gradient through the batch statistics.

:func:`batch_norm_train` is used for float32 inputs on the CPU outside MPI; elsewhere the model
composes the same formulas from Jittor operations (``BatchNorm2d``), as it does everywhere with the
environment variable ``GOLDYOLO_BN_KERNELS=0`` (for comparisons; ``bench --profile-ops`` shows both).
"""
from __future__ import annotations

import os
from typing import Tuple

from ..runtime import jt

_FORWARD = """// goldyolo batch-norm kernel: forward
    const int N = in0_shape0, C = in0_shape1, HW = in0_shape2 * in0_shape3;
    const double count = (double)N * HW;
    const double eps = @EPS;
    #pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < C; c++) {
        double sum = 0;
        for (int n = 0; n < N; n++) {
            const float* x = in0_p + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) sum += x[i];
        }
        const double mean = sum / count;
        double squares = 0;
        for (int n = 0; n < N; n++) {
            const float* x = in0_p + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) { double d = x[i] - mean; squares += d * d; }
        }
        const double var = squares / count;
        const float scale = (float)(in1_p[c] / sqrt(var + eps));
        const float shift = (float)(in2_p[c] - mean * scale);
        for (int n = 0; n < N; n++) {
            const float* x = in0_p + ((size_t)n * C + c) * HW;
            float* y = out0_p + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) y[i] = x[i] * scale + shift;
        }
        out1_p[c] = (float)mean;
        out2_p[c] = (float)var;
    }
"""

_BACKWARD = """// goldyolo batch-norm kernel: backward
    const int N = in0_shape0, C = in0_shape1, HW = in0_shape2 * in0_shape3;
    const double count = (double)N * HW;
    const double eps = @EPS;
    #pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < C; c++) {
        const double mean = in2_p[c];
        const double invstd = 1.0 / sqrt((double)in3_p[c] + eps);
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int n = 0; n < N; n++) {
            const float* x = in0_p + ((size_t)n * C + c) * HW;
            const float* dy = in1_p + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) { sum_dy += dy[i]; sum_dy_xhat += dy[i] * ((x[i] - mean) * invstd); }
        }
        const double scale = in4_p[c] * invstd;
        const double mean_dy = sum_dy / count, mean_dy_xhat = sum_dy_xhat / count;
        for (int n = 0; n < N; n++) {
            const float* x = in0_p + ((size_t)n * C + c) * HW;
            const float* dy = in1_p + ((size_t)n * C + c) * HW;
            float* dx = out0_p + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++)
                dx[i] = (float)(scale * (dy[i] - mean_dy - (x[i] - mean) * invstd * mean_dy_xhat));
        }
        out1_p[c] = (float)sum_dy_xhat;
        out2_p[c] = (float)sum_dy;
    }
"""


def _source(template: str, eps: float) -> str:
    return template.replace("@EPS", repr(float(eps)))


class _BatchNormTrain(jt.Function):
    """(y, mean, biased var) of training-mode BN; the gradient flows to x, weight and bias."""

    def __init__(self, eps: float):
        self.eps = eps

    def execute(self, x: jt.Var, weight: jt.Var, bias: jt.Var):
        channels = x.shape[1]
        y, mean, var = jt.code([x.shape, (channels,), (channels,)], ["float32"] * 3, [x, weight, bias],
                               cpu_src=_source(_FORWARD, self.eps))
        self.saved = (x, mean, var, weight)
        return y, mean.stop_grad(), var.stop_grad()

    def grad(self, grad_y, grad_mean=None, grad_var=None):
        x, mean, var, weight = self.saved
        channels = x.shape[1]
        grad_x, grad_weight, grad_bias = jt.code([x.shape, (channels,), (channels,)], ["float32"] * 3,
                                                 [x, grad_y, mean, var, weight],
                                                 cpu_src=_source(_BACKWARD, self.eps))
        return grad_x, grad_weight, grad_bias


def batch_norm_train(x: jt.Var, weight: jt.Var, bias: jt.Var, eps: float) -> Tuple[jt.Var, jt.Var, jt.Var]:
    """Training-mode BN of float32 NCHW ``x`` with batch statistics.

    Args:
        x: (N, C, H, W) float32.
        weight, bias: (C,) float32.
    Returns:
        y (N, C, H, W), and the batch mean and biased variance (C,), without gradient.
    """
    return _BatchNormTrain(eps)(x, weight, bias)


def parallel_kernels_apply(x: jt.Var) -> bool:
    """Whether :func:`batch_norm_train` serves ``x``: float32 on the CPU, outside MPI, unless switched off."""
    enabled = os.environ.get("GOLDYOLO_BN_KERNELS", "1") != "0"
    return enabled and x.dtype == "float32" and not jt.flags.use_cuda and not jt.in_mpi
