"""Monotone rational-quadratic spline couplings (Durkan, Bekasov, Murray & Papamakarios, "Neural Spline Flows",
NeurIPS 2019).

Each transformed coordinate goes through its own monotone spline on ``[-B, B]``: ``K`` bins whose widths, heights
and ``K - 1`` interior knot derivatives come from the conditioner (the same :class:`~realnvp.coupling.MLP` as the
affine coupling) applied to the kept half. Inside bin ``k`` (knots ``(x_k, y_k)``, width ``w_k``, height ``h_k``,
slope ``δ_k = h_k / w_k``, knot derivatives ``d_k, d_{k+1}``), with ``ξ = (x - x_k) / w_k``:

    g(x) = y_k + h_k (δ_k ξ² + d_k ξ(1-ξ)) / (δ_k + (d_k + d_{k+1} - 2δ_k) ξ(1-ξ))
    g'(x) = δ_k² (d_{k+1} ξ² + 2δ_k ξ(1-ξ) + d_k (1-ξ)²) / (δ_k + (d_k + d_{k+1} - 2δ_k) ξ(1-ξ))²

Outside ``[-B, B]`` the map is the identity, and the boundary derivatives are 1 so it joins the identity smoothly.
The inverse is exact: inside a bin, ``ξ`` is the root in ``[0, 1]`` of a quadratic (the numerically stable form
``ξ = 2c / (-b - sqrt(b² - 4ac))``). Widths and heights are a softmax with a minimum bin size; derivatives a
softplus plus a minimum, shifted so that a zero conditioner output means derivative 1. The conditioner's last
layer is zero-initialised, so a fresh layer has uniform bins and unit derivatives: it is the identity.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from realnvp.coupling import MLP

__all__ = ["SplineCoupling", "rational_quadratic_spline"]


def _softplus_offset(eps: float) -> float:
    # softplus(offset) + eps == 1: a zero raw derivative means derivative 1.
    return math.log(math.expm1(1.0 - eps))


def _softmax(raw: Tensor) -> Tensor:
    # torch.softmax over a last dimension of a few bins is several times slower on CPU than this
    e = (raw - raw.amax(dim=-1, keepdim=True)).exp()
    return e / e.sum(dim=-1, keepdim=True)


def rational_quadratic_spline(
    x: Tensor,
    raw_widths: Tensor,
    raw_heights: Tensor,
    raw_derivatives: Tensor,
    *,
    tail_bound: float = 3.0,
    inverse: bool = False,
    min_bin_size: float = 1e-3,
    min_derivative: float = 1e-3,
) -> tuple[Tensor, Tensor]:
    """Apply the elementwise spline (or its inverse) to ``x``; returns ``(y, log|g'|)`` elementwise.

    ``raw_widths``, ``raw_heights`` have shape ``x.shape + (K,)`` and ``raw_derivatives`` ``x.shape + (K - 1,)``
    (unnormalised conditioner outputs). Bin widths and heights are at least ``min_bin_size`` of the interval,
    derivatives at least ``min_derivative``. Outside ``[-tail_bound, tail_bound]`` it is the identity (log-det 0).

    >>> x = torch.linspace(-4, 4, 9)
    >>> y, ld = rational_quadratic_spline(x, torch.zeros(9, 8), torch.zeros(9, 8), torch.zeros(9, 7))
    >>> torch.allclose(y, x, atol=1e-6), bool(ld.abs().max() < 1e-6)  # zero raw outputs: the identity
    (True, True)
    """
    raw = torch.cat([raw_widths, raw_heights, raw_derivatives], dim=-1)
    return _spline(x, raw, raw_widths.shape[-1], tail_bound, inverse, min_bin_size, min_derivative)


@functools.lru_cache(maxsize=256)
def _constant(value: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    # a 0-dim tensor operand: a Python float in a tensor op is wrapped into a new tensor on every call (≈ 3 µs here)
    return torch.tensor(value, dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def _bin_numbers(k: int, device: torch.device) -> Tensor:
    return torch.arange(k, device=device)


def _size_scale(tail_bound: float, min_bin_size: float, bins: int) -> float:
    """``c1`` of the bin sizes ``c0 + c1 softmax(raw)``: the part of ``[-B, B]`` not taken by the minimum sizes."""
    return 2 * float(tail_bound) * (1 - min_bin_size * bins)


def _spline(
    x: Tensor,
    raw: Tensor,
    bins: int,
    tail_bound: float,
    inverse: bool,
    min_bin_size: float,
    min_derivative: float,
) -> tuple[Tensor, Tensor]:
    """The spline on ``raw`` of shape ``x.shape + (3K - 1,)``: ``K`` raw widths, ``K`` heights, ``K - 1`` derivatives.

    The forward direction, when a gradient may be wanted, goes through :class:`_SplineForward` (the same values,
    a hand-written backward); everything else is :func:`_spline_parts` under autograd.
    """
    if not inverse and torch.is_grad_enabled():
        return _SplineForward.apply(x, raw, bins, tail_bound, min_bin_size, min_derivative)
    y, log_abs, _ = _spline_parts(x, raw, bins, tail_bound, inverse, min_bin_size, min_derivative)
    return y, log_abs


def _spline_parts(
    x: Tensor,
    raw: Tensor,
    bins: int,
    tail_bound: float,
    inverse: bool,
    min_bin_size: float,
    min_derivative: float,
    keep: bool = False,
) -> tuple[Tensor, Tensor, tuple | None]:
    """The spline's maths, written once: ``(y, log|g'|, saved)``, ``saved`` (with ``keep``, forward direction) the
    intermediates :class:`_SplineForward` differentiates by hand. Few, batched operations: a step of the small
    flows this library trains is op-overhead bound (tensors of 256 × 1 × 8), not arithmetic bound."""
    bound = float(tail_bound)
    k = int(bins)
    raw_sizes, raw_derivatives = raw[..., : 2 * k].unflatten(-1, (2, k)), raw[..., 2 * k :]
    const = functools.partial(_constant, dtype=x.dtype, device=x.device)
    # the spline is evaluated everywhere on clamped inputs and discarded outside: no boolean gathers, and no
    # NaN from an out-of-range input can leak into the gradient through torch.where
    xc = x.clamp(-bound, bound)
    inside = xc == x  # the clamp left it alone: -B <= x <= B (a NaN is "outside" and passes through)
    # bin sizes (a softmax with a floor) as fractions of [-B, B]: sizes = c0 + q, q = c1 softmax; the knots: the
    # first is -B exactly, the last B up to rounding
    e = (raw_sizes - raw_sizes.amax(dim=-1, keepdim=True)).exp()
    q = e * torch.div(const(_size_scale(bound, min_bin_size, k)), e.sum(dim=-1, keepdim=True))
    sizes = q + const(2 * bound * min_bin_size)
    knots = F.pad(sizes.cumsum(dim=-1), (1, 0)) - const(bound)  # (..., 2, K + 1): x-knots, y-knots
    shifted = raw_derivatives + const(_softplus_offset(min_derivative))
    derivatives = F.pad(F.softplus(shifted) + const(min_derivative), (1, 1), value=1.0)  # boundary derivatives 1
    # the bin each input falls in: the number of interior knots at or below it (x-knots forward, y-knots inverse)
    idx = torch.searchsorted(knots[..., 1 if inverse else 0, 1:-1].contiguous(), xc[..., None].contiguous(), right=True)
    # one gather for every per-bin quantity: knot positions, sizes, left and right derivatives
    table = torch.cat([knots[..., :-1], sizes, derivatives[..., None, :-1], derivatives[..., None, 1:]], dim=-2)
    x_k, y_k, w_k, h_k, d_k, d_k1 = table.gather(-1, idx[..., None, :].expand(*idx.shape[:-1], 6, 1))[..., 0].unbind(-1)
    delta = h_k / w_k
    slack = torch.sub(d_k + d_k1, delta, alpha=2)  # d_k + d_{k+1} - 2δ
    one = const(1.0)
    numerator = None
    if not inverse:
        xi = (xc - x_k) / w_k
        one_minus = one - xi
        xi1 = xi * one_minus
        denominator = torch.addcmul(delta, slack, xi1)
        xi_sq = xi * xi
        numerator = torch.addcmul(delta * xi_sq, d_k, xi1)  # δξ² + d_k ξ(1-ξ)
        y = torch.addcdiv(y_k, h_k * numerator, denominator)
    else:
        dy = xc - y_k
        a = h_k * (delta - d_k) + dy * slack
        b = h_k * d_k - dy * slack
        c = -delta * dy
        disc = (b * b - 4 * a * c).clamp_min(0.0)
        xi = (2 * c) / (-b - disc.sqrt())
        one_minus = one - xi
        xi1 = xi * one_minus
        denominator = torch.addcmul(delta, slack, xi1)
        xi_sq = xi * xi
        y = torch.addcmul(x_k, xi, w_k)
    # log g' = log(d_{k+1}ξ² + 2δξ(1-ξ) + d_k(1-ξ)²) + 2 log(δ / denominator)
    q_term = torch.addcmul(torch.addcmul(d_k1 * xi_sq, delta, xi1, value=2.0), d_k, one_minus * one_minus)
    log_abs = torch.add(q_term.log(), (delta / denominator).log(), alpha=2.0)
    if inverse:
        log_abs = -log_abs
    y, log_abs = torch.where(inside, y, x), torch.where(inside, log_abs, const(0.0))
    if not keep:
        return y, log_abs, None
    saved = (inside, idx, q, shifted, xi, one_minus, xi1, xi_sq, denominator, numerator, q_term, delta, w_k, h_k)
    return y, log_abs, saved + (d_k, d_k1, slack)


class _SplineForward(torch.autograd.Function):
    """The forward spline (data → latent, the training direction) with a hand-written backward.

    Autograd through :func:`_spline_parts` records about 70 nodes per layer; this backward is some 50 plain
    tensor ops and about twice as fast, which is most of a spline flow's training step. Its gradients with respect
    to ``x``, the raw sizes and the raw derivatives are checked against autograd through :func:`_spline_parts` in
    float64 (``tests/lib/test_spline.py``), and the flow tests' autograd Jacobians run through it.
    """

    @staticmethod
    def forward(ctx, x, raw, bins, tail_bound, min_bin_size, min_derivative):
        y, log_abs, saved = _spline_parts(x, raw, bins, tail_bound, False, min_bin_size, min_derivative, keep=True)
        ctx.saved = saved  # intermediates, not inputs or outputs: plain attributes
        ctx.inv_c1 = 1.0 / _size_scale(tail_bound, min_bin_size, bins)
        return y, log_abs

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_log):
        return (*_spline_backward(ctx.saved, ctx.inv_c1, grad_y, grad_log), None, None, None, None)


def _spline_backward(saved: tuple, inv_c1: float, grad_y: Tensor, grad_log: Tensor) -> tuple[Tensor, Tensor]:
    """Gradients of ``x`` and ``raw`` from those of ``y`` and ``log|g'|`` (``saved`` from :func:`_spline_parts`)."""
    inside, idx, q, shifted, xi, one_minus, xi1, xi_sq, den, num, q_term, delta, w, h, d0, d1, slack = saved
    const = functools.partial(_constant, dtype=grad_y.dtype, device=grad_y.device)
    zero, one = const(0.0), const(1.0)
    gy = torch.where(inside, grad_y, zero)  # outside the tail bound nothing depends on the parameters
    gl = torch.where(inside, grad_log, zero)
    inv_den, inv_q, inv_w = den.reciprocal(), q_term.reciprocal(), w.reciprocal()
    # through ξ:  dy/dξ = w g' with g' = δ² q_term / den²;  d log g'/dξ = 2 (d1 ξ + δ(1-2ξ) - d0(1-ξ)) / q_term
    # - 2 slack (1-2ξ) / den
    t = torch.add(one, xi, alpha=-2.0)
    ratio = delta * inv_den
    dq_dxi = torch.addcmul(torch.addcmul(d1 * xi, delta, t), d0, one_minus, value=-1.0)
    dl_dxi = torch.addcmul(dq_dxi * inv_q, slack * t, inv_den, value=-1.0)
    g_xi = torch.addcmul(gy * (ratio * ratio * q_term * w), gl, dl_dxi, value=2.0)
    # through den = δ(1 - 2ξ(1-ξ)) + (d0 + d1) ξ(1-ξ), num = δξ² + d0 ξ(1-ξ) (y = y_k + h num / den) and
    # q_term = d1 ξ² + 2δ ξ(1-ξ) + d0 (1-ξ)²  (log g' = log q_term + 2 log δ - 2 log den)
    dy_dnum = h * inv_den
    g_num = gy * dy_dnum
    g_den = torch.addcmul(g_num * num * inv_den, gl, inv_den, value=2.0)  # minus dL/d den
    g_q = gl * inv_q
    g_delta = torch.addcmul(g_num * xi_sq, g_q, xi1, value=2.0)
    g_delta = torch.addcmul(g_delta, g_den, torch.add(one, xi1, alpha=-2.0), value=-1.0)
    g_delta = torch.addcdiv(g_delta, gl, delta, value=2.0)
    g_d0 = torch.addcmul((g_num - g_den) * xi1, g_q, one_minus * one_minus)
    g_d1 = torch.addcmul(g_q * xi_sq, g_den, xi1, value=-1.0)
    # ξ = (x - x_k) / w and δ = h / w
    g_xc = g_xi * inv_w
    g_w = -torch.addcmul(g_xi * xi, g_delta, delta) * inv_w
    g_h = torch.addcmul(g_num * num / h, g_delta, inv_w)
    g_x = torch.where(inside, g_xc, grad_y)
    # back to the bins: x_k, y_k are sums of the sizes before bin idx, w, h the sizes at idx
    bins = _bin_numbers(q.shape[-1], q.device)
    at = (bins == idx)[..., None, :]
    before = (bins < idx)[..., None, :]
    g_knot = torch.stack([-g_xc, gy], dim=-1)[..., None]
    g_size = torch.stack([g_w, g_h], dim=-1)[..., None]
    g_sizes = torch.addcmul(before * g_knot, at, g_size)
    # sizes = c0 + c1 softmax(raw): d/d raw = q (g - sum(g q) / c1)
    g_raw_sizes = q * torch.sub(g_sizes, (g_sizes * q).sum(dim=-1, keepdim=True), alpha=inv_c1)
    # d0 = derivatives[idx], d1 = derivatives[idx + 1]; interior derivative j is derivatives[j + 1]
    at = at[..., 0, :]
    g_interior = torch.addcmul(at[..., 1:] * g_d0[..., None], at[..., :-1], g_d1[..., None])
    g_raw = torch.cat([g_raw_sizes.flatten(-2), g_interior * torch.sigmoid(shifted)], dim=-1)
    return g_x, g_raw


class SplineCoupling(nn.Module):
    """Rational-quadratic spline coupling: each coordinate of the transformed half goes through its own monotone
    spline on ``[-tail_bound, tail_bound]`` (identity outside), with ``bins`` bins conditioned on the other half.

    The conditioner maps the kept half to ``3 * bins - 1`` numbers per transformed coordinate (``bins`` widths,
    ``bins`` heights, ``bins - 1`` interior derivatives); its last layer starts at zero, so the layer starts as the
    identity. ``transform_b`` says which half is transformed, as in :class:`~realnvp.coupling.AffineCoupling`.
    See :func:`rational_quadratic_spline` for the maths.

    >>> layer = SplineCoupling(1, 1, (16,), bins=8, tail_bound=3.0)
    >>> a, b = torch.randn(3, 1), torch.randn(3, 1)
    >>> a2, b2, log_det = layer(a, b)
    >>> torch.allclose(b2, b, atol=1e-6), log_det.shape  # identity at initialisation
    (True, torch.Size([3]))
    >>> torch.allclose(layer.inverse(a2, b2)[1], b, atol=1e-6)
    True
    """

    def __init__(
        self,
        dim_a: int,
        dim_b: int,
        hidden_dims: tuple[int, ...] = (64, 64),
        *,
        transform_b: bool = True,
        bins: int = 8,
        tail_bound: float = 3.0,
        min_bin_size: float = 1e-3,
        min_derivative: float = 1e-3,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not (isinstance(bins, int) and bins >= 2):
            raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
        if not tail_bound > 0:
            raise ValueError(f"tail_bound must be > 0, got {tail_bound!r}")
        if not 0 < min_bin_size * bins < 1:
            raise ValueError(f"min_bin_size times bins must lie in (0, 1), got {min_bin_size} × {bins}")
        self.transform_b = transform_b
        self.bins = int(bins)
        self.tail_bound = float(tail_bound)
        self.min_bin_size = float(min_bin_size)
        self.min_derivative = float(min_derivative)
        d_cond, d_trans = (dim_a, dim_b) if transform_b else (dim_b, dim_a)
        self.d_trans = d_trans
        self.net = MLP(d_cond, tuple(hidden_dims), d_trans * (3 * self.bins - 1), generator=generator)

    def spline_parameters(self, cond: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Raw widths ``(n, d, K)``, heights ``(n, d, K)`` and interior derivatives ``(n, d, K-1)`` for ``cond``."""
        raw = self.net(cond).reshape(cond.shape[0], self.d_trans, 3 * self.bins - 1)
        k = self.bins
        return raw[..., :k], raw[..., k : 2 * k], raw[..., 2 * k :]

    def transform(self, cond: Tensor, x: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
        """The transformed half ``g(x | cond)`` (or ``g⁻¹``) and its per-sample log|det J|."""
        y, log_abs = self.elementwise(cond, x, inverse)
        return y, log_abs.sum(dim=1)

    def elementwise(self, cond: Tensor, x: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor]:
        """``g(x | cond)`` (or ``g⁻¹``) and ``log|g'|`` for every transformed coordinate, shape ``(n, d)`` each."""
        raw = self.net(cond).reshape(cond.shape[0], self.d_trans, 3 * self.bins - 1)
        k = self.bins
        return _spline(x, raw, k, self.tail_bound, inverse, self.min_bin_size, self.min_derivative)

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cond, x = (a, b) if self.transform_b else (b, a)
        y, log_det = self.transform(cond, x)
        return (a, y, log_det) if self.transform_b else (y, b, log_det)

    def inverse(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cond, y = (a, b) if self.transform_b else (b, a)
        x, log_det = self.transform(cond, y, inverse=True)
        return (a, x, log_det) if self.transform_b else (x, b, log_det)
