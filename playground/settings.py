"""The Playground's whole configuration as one small dataclass, its resource caps, presets, and URL round trip.

Every bound on what a visitor may ask for (points, layers, widths, batch size, steps per frame, upload size) lives
in :data:`LIMITS`; widgets, URL parameters and uploads all read it. A URL is user input: :func:`from_query` clamps
out-of-range numbers and ignores garbage, returning a human-readable note for everything it changed.

>>> settings, notes = from_query({"ds": "spirals", "layers": "100000", "lr": "banana"})
>>> settings.dataset, settings.n_layers, notes[0].startswith("layers")
('spirals', 16, True)
>>> from_query(to_query(settings))[0] == settings
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from realnvp.coupling import COUPLINGS, MASKS, SCALES
from realnvp.datasets import DATASETS, NOISE_RANGE
from realnvp.flow import FlowConfig
from realnvp.norm import NORMS
from realnvp.training import OPTIMIZERS, OptimConfig
from realnvp.training.engine import SCHEDULES

__all__ = ["Limit", "LIMITS", "Settings", "PRESETS", "Preset", "from_query", "to_query", "clamp"]


@dataclass(frozen=True)
class Limit:
    """An allowed range (inclusive) for one numeric setting."""

    low: float
    high: float
    integer: bool = False


# The one place that bounds what a session may ask of the server.
LIMITS: dict[str, Limit] = {
    "noise": Limit(*NOISE_RANGE),
    "n_points": Limit(100, 20_000, True),
    "seed": Limit(0, 2**31 - 1, True),
    "n_layers": Limit(1, 16, True),
    "width": Limit(4, 256, True),
    "depth": Limit(1, 4, True),
    "lr": Limit(1e-5, 1.0),
    "batch_size": Limit(8, 2048, True),
    "grad_clip": Limit(0.0, 100.0),
    "steps_per_frame": Limit(1, 400, True),
    "decay_steps": Limit(0, 200_000, True),
    "upload_mb": Limit(0, 20),
    "upload_points": Limit(10, 20_000, True),
}
UPLOAD_MAX_MB = int(LIMITS["upload_mb"].high)
UPLOAD_MAX_POINTS = int(LIMITS["upload_points"].high)

CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": DATASETS,
    "coupling": COUPLINGS,
    "scale": SCALES,
    "mask": MASKS,
    "norm": NORMS,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
}

# URL parameter name for each field (short, stable; part of shared links).
QUERY_KEYS = {
    "dataset": "ds",
    "noise": "noise",
    "n_points": "n",
    "seed": "seed",
    "n_layers": "layers",
    "width": "width",
    "depth": "depth",
    "coupling": "coupling",
    "scale": "scale",
    "mask": "mask",
    "norm": "norm",
    "optimizer": "opt",
    "lr": "lr",
    "batch_size": "batch",
    "grad_clip": "clip",
    "steps_per_frame": "spf",
    "schedule": "sched",
    "decay_steps": "decay",
}


@dataclass(frozen=True)
class Settings:
    """Everything that defines a Playground run: data, architecture, optimiser and speed.

    >>> Settings().flow_config().n_layers
    8
    """

    dataset: str = "moons"
    noise: float = 0.1
    n_points: int = 5000
    seed: int = 0
    n_layers: int = 8
    width: int = 64
    depth: int = 2
    coupling: str = "affine"
    scale: str = "tanh"
    mask: str = "alternate"
    norm: str = "none"
    optimizer: str = "adam"
    lr: float = 5e-3
    batch_size: int = 512
    grad_clip: float = 1.0
    steps_per_frame: int = 0  # 0: adapt to the machine (about 0.15 s of training per frame)
    schedule: str = "constant"  # or "cosine": the learning rate decays to 2% of lr over decay_steps steps
    decay_steps: int = 0

    def flow_config(self) -> FlowConfig:
        return FlowConfig(
            dim=2,
            n_layers=self.n_layers,
            hidden_dims=(self.width,) * self.depth,
            coupling=self.coupling,
            scale=self.scale,
            mask=self.mask,
            norm=self.norm,
            seed=self.seed,
        )

    def optim_config(self) -> OptimConfig:
        return OptimConfig(
            optimizer=self.optimizer,
            lr=self.lr,
            batch_size=self.batch_size,
            grad_clip=self.grad_clip,
            schedule=self.schedule,
            total_steps=self.decay_steps,
        )

    def needs_reset(self, other: Settings) -> bool:
        """True when going from ``other`` to ``self`` changes the data or the model (not just the optimiser)."""
        live = {"lr", "batch_size", "grad_clip", "steps_per_frame", "schedule", "decay_steps"}
        return any(getattr(self, f.name) != getattr(other, f.name) for f in fields(self) if f.name not in live)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clamp(name: str, value: float) -> float | int:
    """Clamp ``value`` into :data:`LIMITS` [name] (rounded for integer settings)."""
    limit = LIMITS[name]
    value = min(max(value, limit.low), limit.high)
    return int(round(value)) if limit.integer else float(value)


def _parse_number(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except (ValueError, AttributeError):
        return None
    return value if math.isfinite(value) else None


def _show(value: float) -> str:
    """A limit or value as people write it: whole numbers in full (2147483647, not 2.14748e+09)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def from_query(params: Mapping[str, Any], base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Settings from URL query parameters (unknown keys ignored), plus a note for each value changed or refused."""
    base = base or Settings()
    values = base.to_dict()
    notes: list[str] = []
    for field_name, key in QUERY_KEYS.items():
        if key not in params:
            continue
        raw = params[key]
        if isinstance(raw, list | tuple):
            raw = raw[-1] if raw else ""
        raw = str(raw)[:64]
        if field_name in CHOICES:
            if raw in CHOICES[field_name]:
                values[field_name] = raw
            else:
                notes.append(
                    f"{key}={raw!r} is not one of {', '.join(CHOICES[field_name])}; kept {values[field_name]!r}"
                )
            continue
        number = _parse_number(raw)
        if number is None:
            notes.append(f"{key}={raw!r} is not a number; kept {values[field_name]!r}")
            continue
        if field_name == "steps_per_frame" and number == 0:
            values[field_name] = 0
            continue
        clamped = clamp(field_name, number)
        if clamped != number:
            limit = LIMITS[field_name]
            notes.append(f"{key}={raw} is outside {_show(limit.low)}–{_show(limit.high)}; using {_show(clamped)}")
        values[field_name] = clamped
    return Settings(**values), notes


def to_query(settings: Settings) -> dict[str, str]:
    """The URL query parameters that reproduce ``settings`` (all of them, so a link is self-contained)."""
    out = {}
    for field_name, key in QUERY_KEYS.items():
        value = getattr(settings, field_name)
        out[key] = f"{value:g}" if isinstance(value, float) else str(value)
    return out


@dataclass(frozen=True)
class Preset:
    """A named starting point for a talk: settings plus one line on what to watch for."""

    title: str
    settings: Settings
    what_to_watch: str


PRESETS: dict[str, Preset] = {
    "moons": Preset(
        "Moons in 5 seconds",
        Settings(),
        "A Gaussian bent into two moons; the held-out NLL drops onto the entropy floor.",
    ),
    "spirals": Preset(
        "Two spirals",
        Settings(dataset="spirals", noise=0.05, n_layers=12, width=128, lr=3e-3, schedule="cosine", decay_steps=4000),
        "A harder shape: more layers and wider conditioners, and a cosine learning-rate decay over 4,000 steps "
        "so the fit settles instead of spiking.",
    ),
    "additive": Preset(
        "Why additive struggles",
        Settings(coupling="additive"),
        "Additive (NICE) couplings preserve volume: with unit log-det the density can only be moved, not "
        "concentrated, so the loss stalls far above the floor.",
    ),
    "exp-blowup": Preset(
        "Unbounded exp blows up — and recovers",
        Settings(scale="exp", lr=0.1, grad_clip=0.0, schedule="ramp", decay_steps=1500),
        "Raw exp scales, no clipping and a learning rate ramping up to 0.1 overflow after a few seconds (step ≈700); "
        "the guard restores the last good weights and halves the learning rate until training is stable.",
    ),
    "checkerboard": Preset(
        "Checkerboard",
        Settings(dataset="checkerboard", noise=0.05, n_layers=12, width=128, lr=3e-3),
        "Sharp edges are hard for smooth maps: watch the corners round off.",
    ),
    "8gaussians": Preset(
        "Eight Gaussians",
        Settings(dataset="8gaussians", noise=0.15, n_layers=10, lr=2e-3),
        "Separated modes: the flow must tear one Gaussian into eight, leaving thin bridges between them.",
    ),
}


def apply_preset(name: str) -> Settings:
    """The settings of preset ``name`` (raises ValueError naming the accepted presets)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; accepted: {', '.join(PRESETS)}")
    return replace(PRESETS[name].settings)
