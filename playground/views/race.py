"""What the Race page shows, as plain data: the race's configuration and URL, its presets, and the results table.

A race trains two to four *contestants* — each a full architecture + optimiser configuration (a
:class:`~playground.settings.Settings`) — on the **same** data, split and seed. :class:`RaceConfig` holds the shared
data settings and the contestants; :func:`to_query` / :func:`from_query` round-trip it through the URL (a preset is
just ``?race=<name>``; anything else spells every contestant out as ``c1=coupling:spline,layers:6`` — only what
differs from the defaults). Nothing here trains: :mod:`playground.serving.race` runs the race.

>>> config, notes = from_query({"race": "spline-checkerboard"})
>>> [c.coupling for c in config.contestants], config.dataset
(['affine', 'spline'], 'checkerboard')
>>> from_query(to_query(config))[0] == config
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from playground.settings import CHOICES, LIMITS, QUERY_KEYS, Settings, clamp
from playground.settings import from_query as settings_from_query

__all__ = [
    "MIN_CONTESTANTS",
    "MAX_CONTESTANTS",
    "WITHIN_NATS",
    "CONTESTANT_FIELDS",
    "RaceConfig",
    "RacePreset",
    "RACE_PRESETS",
    "contestant_label",
    "encode_contestant",
    "decode_contestant",
    "to_query",
    "from_query",
    "ContestantResult",
    "seconds_to_within",
    "results_rows",
]

MIN_CONTESTANTS, MAX_CONTESTANTS = 2, 4
WITHIN_NATS = 0.1  # "seconds to within 0.1 nats of the floor"
# What a contestant chooses (the rest — data, noise, points, seed — is shared by the whole race).
CONTESTANT_FIELDS = (
    "n_layers",
    "width",
    "depth",
    "coupling",
    "scale",
    "mask",
    "norm",
    "optimizer",
    "lr",
    "batch_size",
    "grad_clip",
)
SHARED_FIELDS = ("dataset", "noise", "n_points", "seed")
_DEFAULT = Settings()


@dataclass(frozen=True)
class RaceConfig:
    """The shared data (dataset, noise, points, seed) and two to four contestants (their own architecture and
    optimiser; their data fields are ignored and taken from the race).

    >>> RaceConfig(contestants=(Settings(), Settings(coupling="additive"))).labels
    ('A · affine', 'B · additive')
    """

    dataset: str = "moons"
    noise: float = 0.1
    n_points: int = 5000
    seed: int = 0
    contestants: tuple[Settings, ...] = field(default_factory=lambda: (Settings(), Settings(coupling="additive")))

    def __post_init__(self) -> None:
        n = len(self.contestants)
        if not MIN_CONTESTANTS <= n <= MAX_CONTESTANTS:
            raise ValueError(f"a race has {MIN_CONTESTANTS} to {MAX_CONTESTANTS} contestants, got {n}")
        # every contestant trains on the race's data: overwrite their data fields so equality means "same race"
        shared = {name: getattr(self, name) for name in SHARED_FIELDS}
        object.__setattr__(self, "contestants", tuple(replace(c, **shared) for c in self.contestants))

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(contestant_label(i, c, self.contestants) for i, c in enumerate(self.contestants))

    def with_contestants(self, contestants: Sequence[Settings]) -> RaceConfig:
        return replace(self, contestants=tuple(contestants))


def contestant_label(index: int, settings: Settings, everyone: Sequence[Settings] = ()) -> str:
    """``"A · spline, 6 layers"``: a letter and what sets this contestant apart from the others.

    >>> contestant_label(1, Settings(n_layers=2), [Settings(), Settings(n_layers=2)])
    'B · affine, 2 layers'
    """
    parts = [settings.coupling]
    differs = {
        name
        for name in CONTESTANT_FIELDS
        if len({getattr(c, name) for c in everyone}) > 1 or getattr(settings, name) != getattr(_DEFAULT, name)
    }
    if "n_layers" in differs:
        parts.append(f"{settings.n_layers} layers")
    if "width" in differs or "depth" in differs:
        parts.append(f"{settings.depth}×{settings.width}")
    if "scale" in differs and settings.coupling == "affine":
        parts.append(f"{settings.scale} scale")
    for name, text in (("mask", "mask"), ("norm", "norm"), ("optimizer", "")):
        if name in differs:
            parts.append(f"{getattr(settings, name)} {text}".strip())
    if "lr" in differs:
        parts.append(f"lr {settings.lr:g}")
    if "batch_size" in differs:
        parts.append(f"batch {settings.batch_size}")
    if "grad_clip" in differs:
        parts.append("no clip" if settings.grad_clip == 0 else f"clip {settings.grad_clip:g}")
    return f"{'ABCD'[index]} · {', '.join(parts)}"


@dataclass(frozen=True)
class RacePreset:
    """A named race: its configuration and one line on what to watch for."""

    title: str
    config: RaceConfig
    what_to_watch: str


def _race(dataset: str, noise: float, *contestants: Settings, n_points: int = 5000) -> RaceConfig:
    return RaceConfig(dataset=dataset, noise=noise, n_points=n_points, contestants=contestants)


RACE_PRESETS: dict[str, RacePreset] = {
    "affine-additive": RacePreset(
        "Affine vs additive",
        _race("moons", 0.1, Settings(), Settings(coupling="additive")),
        "Additive (NICE) couplings preserve volume: they can move the density but not concentrate it, so the "
        "additive flow stalls far above the floor while the affine one reaches it.",
    ),
    "depth": RacePreset(
        "2 vs 8 layers",
        _race("spirals", 0.1, Settings(n_layers=2), Settings(n_layers=8)),
        "Two couplings can bend a Gaussian only a little; eight wind it into spirals. The shallow flow is faster "
        "per step — watch the NLL against seconds too.",
    ),
    "scale": RacePreset(
        "tanh vs exp scale",
        _race("moons", 0.1, Settings(scale="tanh", lr=0.02), Settings(scale="exp", lr=0.02)),
        "At a high learning rate the unbounded exp scale overflows and the guard has to rewind it; the tanh-bounded "
        "scale keeps training.",
    ),
    "batch": RacePreset(
        "Batch 64 vs 1024",
        _race("8gaussians", 0.15, Settings(batch_size=64), Settings(batch_size=1024)),
        "Small batches take many cheap, noisy steps; large ones few, accurate, expensive ones. Compare the curves "
        "against steps and against seconds.",
    ),
    "spline-checkerboard": RacePreset(
        "Affine vs spline on checkerboard",
        _race(
            "checkerboard",
            0.05,
            Settings(lr=3e-3, batch_size=256),
            Settings(coupling="spline", n_layers=6, lr=3e-3, batch_size=256),
            n_points=10_000,
        ),
        "Sharp square edges: an affine coupling can only stretch and shift each slice, a spline coupling bends it. "
        "The spline (6 layers, a similar parameter count) gets closer to the floor per step, at a fraction of the "
        "affine flow's steps per second.",
    ),
    "spline-spirals": RacePreset(
        "Affine vs spline on spirals",
        _race(
            "spirals",
            0.1,
            Settings(lr=3e-3, batch_size=256),
            Settings(coupling="spline", n_layers=6, lr=3e-3, batch_size=256),
            n_points=10_000,
        ),
        "RealNVP leaves filaments of density between the arms (a known artefact of affine couplings); the spline "
        "flow's monotone curves separate them.",
    ),
}
DEFAULT_PRESET = "spline-checkerboard"


# -- the URL ---------------------------------------------------------------------------------------------------------
_CONTESTANT_KEYS = {name: QUERY_KEYS[name] for name in CONTESTANT_FIELDS}
_FIELD_BY_KEY = {key: name for name, key in _CONTESTANT_KEYS.items()}


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def encode_contestant(settings: Settings) -> str:
    """A contestant as ``key:value`` pairs (the Playground's URL names), only what differs from the defaults.

    >>> encode_contestant(Settings(coupling="spline", n_layers=6))
    'layers:6,coupling:spline'
    >>> encode_contestant(Settings())
    'default'
    """
    pairs = [
        f"{key}:{_text(getattr(settings, name))}"
        for name, key in _CONTESTANT_KEYS.items()
        if getattr(settings, name) != getattr(_DEFAULT, name)
    ]
    return ",".join(pairs) or "default"


def decode_contestant(text: str, label: str = "c") -> tuple[Settings, list[str]]:
    """The inverse of :func:`encode_contestant`; garbage is ignored or clamped with a note (never an exception).

    >>> decode_contestant("coupling:spline,layers:99")[0].n_layers, decode_contestant("layers:99")[1]
    (16, ['c: layers=99 is outside 1–16; using 16'])
    """
    params: dict[str, str] = {}
    notes: list[str] = []
    for pair in str(text)[:400].split(","):
        if pair.strip() in ("", "default"):
            continue
        key, sep, value = pair.partition(":")
        key = key.strip()
        if not sep or key not in _FIELD_BY_KEY:
            accepted = ", ".join(_FIELD_BY_KEY)
            notes.append(f"{label}: ignored {pair.strip()[:40]!r} (expected key:value, key one of {accepted})")
            continue
        params[key] = value.strip()
    settings, more = settings_from_query(params)
    return settings, notes + [f"{label}: {note}" for note in more]


def to_query(config: RaceConfig) -> dict[str, str]:
    """The URL query parameters of a race: ``race=<preset>`` when it is one, else every part spelled out."""
    for name, preset in RACE_PRESETS.items():
        if preset.config == config:
            return {"race": name}
    out = {
        "race": "custom",
        QUERY_KEYS["dataset"]: config.dataset,
        QUERY_KEYS["noise"]: _text(config.noise),
        QUERY_KEYS["n_points"]: str(config.n_points),
        QUERY_KEYS["seed"]: str(config.seed),
    }
    for i, contestant in enumerate(config.contestants):
        out[f"c{i + 1}"] = encode_contestant(contestant)
    return out


def from_query(params: Mapping[str, Any]) -> tuple[RaceConfig, list[str]]:
    """A race from URL query parameters, with a note for everything adjusted or refused.

    ``race=<preset>`` starts from that preset (unknown names fall back to the default preset with a note);
    ``ds``/``noise``/``n``/``seed`` and ``c1``…``c4`` then override it.
    """

    def get(key: str) -> str | None:
        raw = params.get(key)
        if isinstance(raw, list | tuple):
            raw = raw[-1] if raw else None
        return None if raw is None else str(raw)

    notes: list[str] = []
    name = get("race") or DEFAULT_PRESET
    if name != "custom" and name not in RACE_PRESETS:
        notes.append(f"race={name[:40]!r} is not a preset ({', '.join(RACE_PRESETS)}); showing the default race")
        name = DEFAULT_PRESET
    base = RACE_PRESETS[DEFAULT_PRESET if name == "custom" else name].config
    shared = {key: get(key) for key in (QUERY_KEYS[f] for f in SHARED_FIELDS) if get(key) is not None}
    data, more = settings_from_query(shared, Settings(**{f: getattr(base, f) for f in SHARED_FIELDS}))
    notes += more
    contestants = list(base.contestants)
    given = [get(f"c{i + 1}") for i in range(MAX_CONTESTANTS)]
    if any(g is not None for g in given):
        contestants = []
        for i, text in enumerate(given):
            if text is not None:
                settings, more = decode_contestant(text, f"c{i + 1}")
                contestants.append(settings)
                notes += more
        while len(contestants) < MIN_CONTESTANTS:
            notes.append(f"a race needs {MIN_CONTESTANTS} contestants: added a default one")
            contestants.append(Settings())
    config = RaceConfig(
        dataset=data.dataset, noise=data.noise, n_points=data.n_points, seed=data.seed, contestants=tuple(contestants)
    )
    return config, notes


# -- results ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContestantResult:
    """Where one contestant stands: its held-out evaluations against steps and its own training seconds."""

    label: str
    parameters: int
    steps: int
    train_seconds: float
    eval_steps: tuple[int, ...]
    eval_seconds: tuple[float, ...]
    heldout_nll: tuple[float, ...]
    entropy: float | None
    events: int = 0

    @property
    def nll(self) -> float | None:
        return self.heldout_nll[-1] if self.heldout_nll else None

    @property
    def gap(self) -> float | None:
        if self.nll is None or self.entropy is None:
            return None
        return self.nll - self.entropy

    @property
    def steps_per_second(self) -> float | None:
        return self.steps / self.train_seconds if self.train_seconds > 0 and self.steps > 0 else None


def seconds_to_within(
    eval_seconds: Sequence[float], heldout_nll: Sequence[float], entropy: float | None, nats: float = WITHIN_NATS
) -> float | None:
    """The first training time at which the held-out NLL came within ``nats`` of the entropy floor (None: not yet).

    >>> seconds_to_within([0.0, 1.5, 3.0], [2.0, 1.05, 1.2], entropy=1.0)
    1.5
    >>> seconds_to_within([0.0, 1.5], [2.0, 1.5], entropy=1.0) is None
    True
    """
    if entropy is None:
        return None
    for seconds, nll in zip(eval_seconds, heldout_nll, strict=False):
        if math.isfinite(nll) and nll - entropy <= nats:
            return float(seconds)
    return None


def _fmt(value: float | None, spec: str, missing: str = "—") -> str:
    return missing if value is None or not math.isfinite(value) else format(value, spec)


def results_rows(results: Sequence[ContestantResult]) -> list[dict[str, Any]]:
    """The results table: one row per contestant (formatted strings, so the table reads the same everywhere).

    >>> r = ContestantResult("A · affine", 35344, 3000, 5.0, (0, 3000), (0.0, 5.0), (2.5, 1.05), entropy=1.0)
    >>> row = results_rows([r])[0]
    >>> row["held-out NLL"], row["gap to floor"], row["steps/s"], row["s to within 0.1 nats"]
    ('1.050', '+0.050', '600', '5.0')
    """
    rows = []
    for r in results:
        reached = seconds_to_within(r.eval_seconds, r.heldout_nll, r.entropy)
        rows.append(
            {
                "contestant": r.label,
                "held-out NLL": _fmt(r.nll, ".3f"),
                "gap to floor": _fmt(r.gap, "+.3f"),
                "parameters": f"{r.parameters:,}",
                "steps": f"{r.steps:,}",
                "training s": _fmt(r.train_seconds, ".1f"),
                "steps/s": _fmt(r.steps_per_second, ".0f"),
                f"s to within {WITHIN_NATS:g} nats": _fmt(reached, ".1f", "not yet"),
                "guard rewinds": str(r.events),
            }
        )
    return rows


def contestant_fields() -> list[str]:
    """The :class:`~playground.settings.Settings` fields a contestant chooses (for editors)."""
    return [f.name for f in fields(Settings) if f.name in CONTESTANT_FIELDS]


def clamp_contestant(settings: Settings) -> Settings:
    """``settings`` with every number inside :data:`~playground.settings.LIMITS` and every choice valid."""
    values = {}
    for name in CONTESTANT_FIELDS:
        value = getattr(settings, name)
        if name in CHOICES:
            values[name] = value if value in CHOICES[name] else getattr(_DEFAULT, name)
        elif name in LIMITS:
            values[name] = clamp(name, value)
    return replace(settings, **values)
