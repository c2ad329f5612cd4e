"""Coupling layers and masks for vector RealNVP flows (normalisation layers are in :mod:`realnvp.norm`).

A vector flow keeps its state as two tensors, ``a`` and ``b``: the two halves of a fixed partition of the
coordinates (see :func:`partition`). Each layer maps ``(a, b) -> (a', b', log_det)`` and has an exact inverse, so
no layer ever gathers with a boolean mask or writes into a clone: that is what makes a training step cheap.

- :class:`AffineCoupling` — ``y = x * exp(s(c)) + t(c)`` on one half, conditioned on the other (RealNVP,
  Dinh et al. 2017); ``log|det J| = sum(s)``.
- :class:`AdditiveCoupling` — ``y = x + t(c)`` (NICE, Dinh et al. 2015); volume preserving.
- :class:`Permute` — a fixed random permutation across both halves (zero log-det).
- ``"spline"`` couplings (monotone rational-quadratic splines, Neural Spline Flows) live in :mod:`realnvp.spline`.

Randomness is explicit: every random draw (initial weights, permutations) takes a ``torch.Generator``. Nothing
here reads or seeds torch's process-wide generator, so flows built on several threads at once (Streamlit sessions
share one process) get exactly the weights their seeds say. ``generator=None`` means a fresh, non-deterministically
seeded generator (:func:`fresh_generator`), never the global one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "MASKS",
    "SCALES",
    "COUPLINGS",
    "fresh_generator",
    "init_uniform_",
    "partition",
    "merge",
    "MLP",
    "AffineCoupling",
    "AdditiveCoupling",
    "Permute",
]

MASKS = ("alternate", "parity", "random")
SCALES = ("tanh", "softplus", "exp")
COUPLINGS = ("affine", "additive", "spline")  # "spline": realnvp.spline.SplineCoupling


def fresh_generator(device: str | torch.device | None = None) -> torch.Generator:
    """A new generator seeded non-deterministically (from the OS), for draws that need no reproducibility.

    Used wherever ``generator=None`` is passed, instead of torch's process-wide generator.

    >>> fresh_generator().initial_seed() != fresh_generator().initial_seed()
    True
    """
    generator = torch.Generator(device=device) if device is not None else torch.Generator()
    generator.seed()
    return generator


@torch.no_grad()
def init_uniform_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default ``nn.Linear`` / ``nn.Conv*d`` initialisation, drawn from ``generator``.

    ``nn.init.kaiming_uniform_(w, a=sqrt(5))`` and the default bias are both ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``,
    ``fan_in`` the inputs per output unit; this draws exactly that distribution, weight then bias.
    Build the module with ``torch.nn.utils.skip_init`` so its own initialisation never runs (it would draw from
    the global generator).

    >>> lin = init_uniform_(nn.utils.skip_init(nn.Linear, 4, 3), torch.Generator().manual_seed(0))
    >>> bool(lin.weight.abs().max() <= 0.5), lin.bias.shape
    (True, torch.Size([3]))
    """
    weight = module.weight
    bound = 1.0 / math.sqrt(weight[0].numel()) if weight[0].numel() > 0 else 0.0
    weight.uniform_(-bound, bound, generator=generator)
    if getattr(module, "bias", None) is not None:
        module.bias.uniform_(-bound, bound, generator=generator)
    return module


def partition(dim: int, mask: str) -> tuple[Tensor, Tensor]:
    """Index sets ``(A, B)`` of the two halves a flow alternates between.

    ``alternate`` splits first half / second half (the seed's alternating halves), ``parity`` even / odd
    coordinates, ``random`` first / second half with a :class:`Permute` layer before every coupling.

    >>> partition(4, "parity")
    (tensor([0, 2]), tensor([1, 3]))
    """
    if dim < 2:
        raise ValueError(f"a coupling flow needs dim >= 2, got {dim}")
    if mask not in MASKS:
        raise ValueError(f"unknown mask {mask!r}; accepted: {', '.join(MASKS)}")
    idx = torch.arange(dim)
    if mask == "parity":
        return idx[0::2].clone(), idx[1::2].clone()
    return idx[: dim // 2].clone(), idx[dim // 2 :].clone()


def merge(a: Tensor, b: Tensor, index_a: Tensor, index_b: Tensor) -> Tensor:
    """Put the halves back into their coordinates: the inverse of ``x[:, index_a], x[:, index_b]``."""
    if index_a.numel() == a.shape[1] and _is_prefix(index_a):
        return torch.cat([a, b], dim=1)
    out = a.new_empty(a.shape[0], a.shape[1] + b.shape[1])
    out[:, index_a.to(a.device)] = a
    out[:, index_b.to(a.device)] = b
    return out


def _is_prefix(index: Tensor) -> bool:
    return bool(torch.equal(index, torch.arange(index.numel())))


class MLP(nn.Sequential):
    """The conditioner: ``Linear → ReLU`` blocks and a zero-initialised output layer (the flow starts as identity).

    Hidden layers get PyTorch's default initialisation drawn from ``generator`` (:func:`init_uniform_`).

    >>> net = MLP(1, (64, 64), 2, generator=torch.Generator().manual_seed(0))
    >>> net(torch.zeros(5, 1)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self, in_dim: int, hidden_dims: tuple[int, ...], out_dim: int, generator: torch.Generator | None = None
    ):
        generator = generator if generator is not None else fresh_generator()
        layers: list[nn.Module] = []
        prev = in_dim
        for width in hidden_dims:
            layers += [init_uniform_(nn.utils.skip_init(nn.Linear, prev, width), generator), nn.ReLU()]
            prev = width
        last = nn.utils.skip_init(nn.Linear, prev, out_dim)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        layers.append(last)
        super().__init__(*layers)


def _softplus_offset(eps: float) -> float:
    # softplus(offset) + eps == 1, so a zero conditioner output means scale 1 (identity).
    return math.log(math.expm1(1.0 - eps))


class AffineCoupling(nn.Module):
    """Affine coupling: the transformed half becomes ``x * exp(s(c)) + t(c)``, c the conditioning half.

    ``scale`` chooses how the raw network output ``r`` becomes the log-scale ``s``:
    ``"tanh"`` → ``s = bound * tanh(r / bound)`` (smoothly bounded by ``±bound``, slope 1 at 0),
    ``"softplus"`` → ``s = log(softplus(r + c) + eps)`` (scale in ``(eps, ∞)``, 1 at r = 0),
    ``"exp"`` → ``s = r`` (unbounded: it can blow up, on purpose).

    ``transform_b`` says which half is transformed: True transforms ``b`` conditioned on ``a``.

    >>> layer = AffineCoupling(1, 1, (16,), transform_b=True)
    >>> a, b = torch.randn(3, 1), torch.randn(3, 1)
    >>> a2, b2, log_det = layer(a, b)
    >>> torch.allclose(layer.inverse(a2, b2)[1], b)
    True
    """

    def __init__(
        self,
        dim_a: int,
        dim_b: int,
        hidden_dims: tuple[int, ...] = (64, 64),
        *,
        transform_b: bool = True,
        scale: str = "tanh",
        scale_bound: float = 2.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; accepted: {', '.join(SCALES)}")
        if not scale_bound > 0:
            raise ValueError(f"scale_bound must be > 0, got {scale_bound}")
        self.transform_b = transform_b
        self.scale = scale
        self.scale_bound = float(scale_bound)
        self.softplus_eps = 1e-3
        self.softplus_offset = _softplus_offset(self.softplus_eps)
        d_cond, d_trans = (dim_a, dim_b) if transform_b else (dim_b, dim_a)
        self.d_trans = d_trans
        self.net = MLP(d_cond, tuple(hidden_dims), 2 * d_trans, generator=generator)

    def log_scale_shift(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        """The log-scale ``s`` and shift ``t`` the conditioner gives for the conditioning half ``cond``."""
        raw = self.net(cond)
        r, t = raw[:, : self.d_trans], raw[:, self.d_trans :]
        if self.scale == "tanh":
            s = self.scale_bound * torch.tanh(r / self.scale_bound)
        elif self.scale == "softplus":
            s = torch.log(nn.functional.softplus(r + self.softplus_offset) + self.softplus_eps)
        else:
            s = r
        return s, t

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cond, x = (a, b) if self.transform_b else (b, a)
        s, t = self.log_scale_shift(cond)
        y = x * torch.exp(s) + t
        log_det = s.sum(dim=1)
        return (a, y, log_det) if self.transform_b else (y, b, log_det)

    def inverse(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cond, y = (a, b) if self.transform_b else (b, a)
        s, t = self.log_scale_shift(cond)
        x = (y - t) * torch.exp(-s)
        log_det = -s.sum(dim=1)
        return (a, x, log_det) if self.transform_b else (x, b, log_det)


class AdditiveCoupling(nn.Module):
    """Additive (NICE) coupling: the transformed half becomes ``x + t(c)``; ``log|det J| = 0``.

    >>> layer = AdditiveCoupling(1, 1, (16,))
    >>> a, b = torch.randn(3, 1), torch.randn(3, 1)
    >>> layer(a, b)[2]
    tensor([0., 0., 0.])
    """

    def __init__(
        self,
        dim_a: int,
        dim_b: int,
        hidden_dims: tuple[int, ...] = (64, 64),
        *,
        transform_b=True,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.transform_b = transform_b
        d_cond, d_trans = (dim_a, dim_b) if transform_b else (dim_b, dim_a)
        self.net = MLP(d_cond, tuple(hidden_dims), d_trans, generator=generator)

    def log_scale_shift(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        t = self.net(cond)
        return torch.zeros_like(t), t

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        zero = a.new_zeros(a.shape[0])
        if self.transform_b:
            return a, b + self.net(a), zero
        return a + self.net(b), b, zero

    def inverse(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        zero = a.new_zeros(a.shape[0])
        if self.transform_b:
            return a, b - self.net(a), zero
        return a - self.net(b), b, zero


class Permute(nn.Module):
    """A fixed (seeded) random permutation of all coordinates, applied across the two halves; log-det 0.

    >>> perm = Permute(1, 1, generator=torch.Generator().manual_seed(0))
    >>> a, b = torch.randn(3, 1), torch.randn(3, 1)
    >>> a2, b2, _ = perm(a, b)
    >>> torch.equal(perm.inverse(a2, b2)[0], a)
    True
    """

    def __init__(self, dim_a: int, dim_b: int, generator: torch.Generator | None = None):
        super().__init__()
        self.dim_a = dim_a
        generator = generator if generator is not None else fresh_generator()
        perm = torch.randperm(dim_a + dim_b, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = torch.cat([a, b], dim=1)[:, self.perm]
        return x[:, : self.dim_a], x[:, self.dim_a :], a.new_zeros(a.shape[0])

    def inverse(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = torch.cat([a, b], dim=1)[:, self.inv_perm]
        return x[:, : self.dim_a], x[:, self.dim_a :], a.new_zeros(a.shape[0])
