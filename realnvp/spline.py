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

import math

import torch
from torch import Tensor, nn
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
    raw_sizes = torch.stack([raw_widths, raw_heights], dim=-2)
    return _spline(x, raw_sizes, raw_derivatives, tail_bound, inverse, min_bin_size, min_derivative)


def _spline(
    x: Tensor,
    raw_sizes: Tensor,
    raw_derivatives: Tensor,
    tail_bound: float,
    inverse: bool,
    min_bin_size: float,
    min_derivative: float,
) -> tuple[Tensor, Tensor]:
    """The spline on ``raw_sizes`` of shape ``x.shape + (2, K)`` (widths then heights): few, batched operations."""
    bound = float(tail_bound)
    k = raw_sizes.shape[-1]
    inside = (x >= -bound) & (x <= bound)
    # the spline is evaluated everywhere on clamped inputs and discarded outside: no boolean gathers, and no
    # NaN from an out-of-range input can leak into the gradient through torch.where
    xc = x.clamp(-bound, bound)
    # bin sizes (a softmax with a floor) as fractions of [-B, B], and the knots: the first is -B exactly, the last
    # B up to rounding
    sizes = (2 * bound) * (min_bin_size + (1 - min_bin_size * k) * _softmax(raw_sizes))
    knots = F.pad(torch.cumsum(sizes, dim=-1), (1, 0)) - bound  # (..., 2, K + 1): x-knots, y-knots
    interior = min_derivative + F.softplus(raw_derivatives + _softplus_offset(min_derivative))
    derivatives = F.pad(interior, (1, 1), value=1.0).unsqueeze(-2)  # boundary derivatives 1
    # the bin each input falls in: the number of interior knots at or below it (x-knots forward, y-knots inverse)
    idx = (xc[..., None] >= knots[..., 1 if inverse else 0, 1:-1]).sum(dim=-1, keepdim=True)
    # one gather for every per-bin quantity: knot positions, sizes, left and right derivatives
    table = torch.cat([knots[..., :-1], sizes, derivatives[..., :-1], derivatives[..., 1:]], dim=-2)
    x_k, y_k, w_k, h_k, d_k, d_k1 = table.gather(-1, idx[..., None, :].expand(*idx.shape[:-1], 6, 1))[..., 0].unbind(-1)
    delta = h_k / w_k
    slack = d_k + d_k1 - 2 * delta

    if not inverse:
        xi = (xc - x_k) / w_k
        xi1 = xi * (1 - xi)
        denominator = delta + slack * xi1
        y = y_k + h_k * (delta * xi * xi + d_k * xi1) / denominator
    else:
        dy = xc - y_k
        a = h_k * (delta - d_k) + dy * slack
        b = h_k * d_k - dy * slack
        c = -delta * dy
        disc = (b * b - 4 * a * c).clamp_min(0.0)
        xi = (2 * c) / (-b - disc.sqrt())
        xi1 = xi * (1 - xi)
        denominator = delta + slack * xi1
        y = x_k + xi * w_k
    one_minus = 1 - xi
    derivative_numerator = delta * delta * (d_k1 * xi * xi + 2 * delta * xi1 + d_k * one_minus * one_minus)
    log_abs = derivative_numerator.log() - 2 * denominator.log()
    if inverse:
        log_abs = -log_abs
    return torch.where(inside, y, x), torch.where(inside, log_abs, torch.zeros_like(log_abs))


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
        raw_sizes = raw[..., : 2 * k].reshape(cond.shape[0], self.d_trans, 2, k)
        return _spline(
            x, raw_sizes, raw[..., 2 * k :], self.tail_bound, inverse, self.min_bin_size, self.min_derivative
        )

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cond, x = (a, b) if self.transform_b else (b, a)
        y, log_det = self.transform(cond, x)
        return (a, y, log_det) if self.transform_b else (y, b, log_det)

    def inverse(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cond, y = (a, b) if self.transform_b else (b, a)
        x, log_det = self.transform(cond, y, inverse=True)
        return (a, x, log_det) if self.transform_b else (x, b, log_det)
