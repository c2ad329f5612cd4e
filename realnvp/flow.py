"""`RealNVP` for vectors: a stack of coupling layers over a standard normal base distribution.

    log p(x) = log N(f(x); 0, I) + sum_k log|det J_k(x)|

where ``f = f_K ∘ … ∘ f_1`` maps data to latent (the density direction) and ``f⁻¹`` maps latent to data
(the sampling direction). Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from realnvp.coupling import (
    COUPLINGS,
    MASKS,
    SCALES,
    AdditiveCoupling,
    AffineCoupling,
    Permute,
    fresh_generator,
    merge,
    partition,
)
from realnvp.norm import NORMS, ActNorm, BatchNormFlow
from realnvp.spline import SplineCoupling

__all__ = ["FlowConfig", "RealNVP", "Trace"]

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class FlowConfig:
    """Everything needed to rebuild a :class:`RealNVP` (it is saved as JSON beside the weights).

    >>> FlowConfig(dim=2, n_layers=4).hidden_dims
    (64, 64)
    """

    dim: int = 2
    n_layers: int = 8
    hidden_dims: tuple[int, ...] = (64, 64)
    coupling: str = "affine"
    scale: str = "tanh"
    scale_bound: float = 2.0
    mask: str = "alternate"
    norm: str = "none"
    seed: int = 0
    spline_bins: int = 8  # coupling="spline": bins per spline
    tail_bound: float = 3.0  # coupling="spline": the spline acts on [-tail_bound, tail_bound], identity outside

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        problems = []
        if not (isinstance(self.dim, int) and self.dim >= 2):
            problems.append(f"dim must be an integer >= 2 (got {self.dim!r})")
        if not (isinstance(self.n_layers, int) and self.n_layers >= 1):
            problems.append(f"n_layers must be an integer >= 1 (got {self.n_layers!r})")
        if not self.hidden_dims or min(self.hidden_dims) < 1:
            problems.append(f"hidden_dims must be one or more positive widths (got {self.hidden_dims!r})")
        for name, value, accepted in (
            ("coupling", self.coupling, COUPLINGS),
            ("scale", self.scale, SCALES),
            ("mask", self.mask, MASKS),
            ("norm", self.norm, NORMS),
        ):
            if value not in accepted:
                problems.append(f"{name} {value!r} is not one of {', '.join(accepted)}")
        if not self.scale_bound > 0:
            problems.append(f"scale_bound must be > 0 (got {self.scale_bound!r})")
        if not (isinstance(self.spline_bins, int) and 2 <= self.spline_bins <= 64):
            problems.append(f"spline_bins must be an integer from 2 to 64 (got {self.spline_bins!r})")
        if not (isinstance(self.tail_bound, int | float) and 0 < self.tail_bound <= 100):
            problems.append(f"tail_bound must be a number in (0, 100] (got {self.tail_bound!r})")
        if problems:
            raise ValueError("invalid flow configuration: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hidden_dims"] = list(self.hidden_dims)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown flow configuration keys {sorted(unknown)}; accepted: {sorted(known)}")
        return cls(**data)


@dataclass
class Trace:
    """What every layer did to a batch: ``states[0]`` is the input, ``states[k]`` the points after layer k.

    ``log_dets[k]`` is layer k's per-sample log|det J| (shape ``(n,)``); ``kinds[k]`` names the layer and
    ``transformed[k]`` lists the coordinates it changed (empty for normalisation or permutation layers that
    touch all or none in the coupling sense).
    """

    states: list[Tensor]
    log_dets: list[Tensor]
    kinds: list[str] = field(default_factory=list)
    transformed: list[list[int]] = field(default_factory=list)
    direction: str = "forward"


class RealNVP(nn.Module):
    """A RealNVP flow for vectors with a standard normal base distribution.

    Layers alternate which half of the coordinates they transform (``mask``: ``"alternate"`` halves, ``"parity"``
    even/odd coordinates, or ``"random"`` fixed permutations), optionally with a normalisation layer after each
    coupling (``norm``: ``"actnorm"`` or ``"batchnorm"``). ``coupling`` is ``"affine"`` (RealNVP), ``"additive"``
    (NICE) or ``"spline"`` (rational-quadratic splines with ``spline_bins`` bins on ``[-tail_bound, tail_bound]``,
    :class:`~realnvp.spline.SplineCoupling`; ``scale`` is then unused).

    >>> flow = RealNVP(2, n_layers=4, hidden_dims=(32, 32))
    >>> x = torch.randn(10, 2)
    >>> z, log_det = flow(x)
    >>> x_back, _ = flow.inverse(z)
    >>> torch.allclose(x, x_back, atol=1e-6), flow.log_prob(x).shape
    (True, torch.Size([10]))
    """

    def __init__(
        self,
        dim: int = 2,
        n_layers: int = 8,
        hidden_dims: tuple[int, ...] = (64, 64),
        coupling: str = "affine",
        scale: str = "tanh",
        scale_bound: float = 2.0,
        mask: str = "alternate",
        norm: str = "none",
        seed: int = 0,
        spline_bins: int = 8,
        tail_bound: float = 3.0,
    ):
        super().__init__()
        self.config = FlowConfig(
            dim, n_layers, tuple(hidden_dims), coupling, scale, scale_bound, mask, norm, seed, spline_bins, tail_bound
        )
        index_a, index_b = partition(dim, mask)
        self.register_buffer("index_a", index_a)
        self.register_buffer("index_b", index_b)
        dim_a, dim_b = len(index_a), len(index_b)
        # One explicit generator for every draw (weights, permutations): the same config always builds the same
        # flow, and building one never reads or changes torch's process-wide generator (nor CUDA's).
        generator = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = []
        for k in range(n_layers):
            if mask == "random":
                layers.append(Permute(dim_a, dim_b, generator=generator))
            transform_b = k % 2 == 0
            if coupling == "affine":
                layer = AffineCoupling(
                    dim_a,
                    dim_b,
                    hidden_dims,
                    transform_b=transform_b,
                    scale=scale,
                    scale_bound=scale_bound,
                    generator=generator,
                )
            elif coupling == "spline":
                layer = SplineCoupling(
                    dim_a,
                    dim_b,
                    hidden_dims,
                    transform_b=transform_b,
                    bins=spline_bins,
                    tail_bound=tail_bound,
                    generator=generator,
                )
            else:
                layer = AdditiveCoupling(dim_a, dim_b, hidden_dims, transform_b=transform_b, generator=generator)
            layers.append(layer)
            if norm == "actnorm":
                layers.append(ActNorm(dim_a, dim_b))
            elif norm == "batchnorm":
                layers.append(BatchNormFlow(dim_a, dim_b))
        self.layers = nn.ModuleList(layers)

    @classmethod
    def from_config(cls, config: FlowConfig) -> RealNVP:
        return cls(**asdict(config))

    @property
    def dim(self) -> int:
        return self.config.dim

    # -- the two directions -------------------------------------------------------------------------------------
    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.config.mask == "parity":
            return x[:, 0::2], x[:, 1::2]
        h = self.index_a.numel()
        return x[:, :h], x[:, h:]

    def merge(self, a: Tensor, b: Tensor) -> Tensor:
        return merge(a, b, self.index_a, self.index_b)

    # -- the one loop over layers: forward, inverse, log_prob, nll_loss and trace all run through _steps --------
    def _steps(
        self, x: Tensor, direction: str = "forward", start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[nn.Module, Tensor, Tensor, Tensor]]:
        """Apply ``layers[start:stop]`` to ``x``; yield ``(layer, a, b, log_det)`` after each one (the two halves).

        ``"forward"`` runs them in order (data → latent); ``"inverse"`` runs their inverses last to first.
        """
        if direction not in ("forward", "inverse"):
            raise ValueError(f"direction must be 'forward' or 'inverse', got {direction!r}")
        layers = list(self.layers)[start:stop]
        a, b = self.split(x)
        if direction == "forward":
            for layer in layers:
                a, b, log_det = layer(a, b)
                yield layer, a, b, log_det
        else:
            for layer in reversed(layers):
                a, b, log_det = layer.inverse(a, b)
                yield layer, a, b, log_det

    def _transform(self, x: Tensor, direction: str) -> tuple[Tensor, Tensor, Tensor]:
        """The halves after every layer and the per-sample sum of the layers' log|det J|."""
        halves, log_det = None, None
        for _, a, b, ld in self._steps(x, direction):
            halves, log_det = (a, b), (ld if log_det is None else log_det + ld)
        if halves is None:  # no layers
            return *self.split(x), x.new_zeros(x.shape[0])
        return *halves, log_det

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Data → latent: ``(z, log_det)`` with ``log_det`` the per-sample sum of every layer's log|det J|."""
        a, b, log_det = self._transform(x, "forward")
        return self.merge(a, b), log_det

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Latent → data: ``(x, log_det)`` with ``log_det`` the log|det| of the inverse map (= −forward's)."""
        a, b, log_det = self._transform(z, "inverse")
        return self.merge(a, b), log_det

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of each row of ``x`` (natural log), shape ``(n,)``."""
        z, log_det = self.forward(x)
        return base_log_prob(z) + log_det

    def nll_loss(self, x: Tensor) -> Tensor:
        """Mean negative log-likelihood of a batch (the training loss), in nats."""
        a, b, log_det = self._transform(x, "forward")
        sq = a.square().sum() + b.square().sum()
        n = x.shape[0]
        return 0.5 * sq / n + 0.5 * self.dim * LOG_2PI - log_det.mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        """Draw ``n`` samples: ``x = f⁻¹(z)``, ``z ~ N(0, temperature² I)``.

        ``generator`` makes the draw reproducible; without one a fresh, non-deterministically seeded generator is
        used (never torch's process-wide one).
        """
        device = self.index_a.device
        dtype = next(self.parameters()).dtype
        if generator is None:
            generator = fresh_generator(device)
        if generator.device != device:
            z = torch.randn(n, self.dim, generator=generator, dtype=dtype).to(device)
        else:
            z = torch.randn(n, self.dim, generator=generator, device=device, dtype=dtype)
        return self.inverse(z * temperature)[0]

    def trace(self, x: Tensor, direction: str = "forward", start: int = 0, stop: int | None = None) -> Trace:
        """Every intermediate state and each layer's per-sample log-det, in the given direction.

        ``direction="forward"`` starts from data points ``x`` and ends at their latents; ``"inverse"`` starts from
        latents and ends at data. ``sum(trace.log_dets)`` equals the log-det returned by ``forward``/``inverse``,
        and ``trace.states[-1]`` their output, bit for bit (the same loop computes all of them).

        ``start``/``stop`` restrict the trace to ``layers[start:stop]``; ``x`` is then the state entering the first
        of them (``layers[start]`` going forward, ``layers[stop - 1]`` going inverse).
        """
        states, log_dets, kinds, transformed = [x], [], [], []
        for layer, a, b, ld in self._steps(x, direction, start, stop):
            states.append(self.merge(a, b))
            log_dets.append(ld)
            kinds.append(type(layer).__name__)
            transformed.append(self._transformed_coordinates(layer))
        return Trace(states, log_dets, kinds, transformed, direction)

    def _transformed_coordinates(self, layer: nn.Module) -> list[int]:
        if isinstance(layer, AffineCoupling | AdditiveCoupling | SplineCoupling):
            return (self.index_b if layer.transform_b else self.index_a).tolist()
        return []


def base_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) per row."""
    return -0.5 * (z.square().sum(dim=1) + z.shape[1] * LOG_2PI)
