"""Scenes: an ordered talk script of Playground settings, each with a caption and a promise that is measured.

A :class:`Scene` is a title, :class:`~playground.settings.Settings`, a caption saying what the audience will see,
and a :class:`Promise` the tests check on the library's trainer for ten seeds (``tests/app/test_scenes.py``):

- ``identity`` — at step 0 every coupling is the identity (the latent equals the standardised data);
- ``floor_by`` — held-out NLL within ``nats`` of the dataset's entropy floor by ``step``;
- ``above_floor`` — still at least ``nats`` above the floor at ``step`` (what a model *cannot* do);
- ``guard_recovers`` — the NaN guard trips after step ``after`` and training ends within ``nats`` of the floor by
  ``step`` (the learning rate the guard lowered is what the widgets then show);
- ``sum_of_parts`` — on the Layer-by-layer page: log p(x) is the base log-density plus every layer's log-det.

The shipped script, :data:`TALK_SCRIPT`, tells the RealNVP story. A speaker can write their own as JSON
(:func:`load_script`): a list of ``{"title", "caption", "settings": {...}, "promise": {...}, "page"}`` objects whose
settings use the URL's names or the field names (``{"ds": "moons", "layers": 4}``).

>>> [s.key for s in TALK_SCRIPT][:3]
['identity', 'moons', 'additive']
>>> TALK_SCRIPT[1].promise.text()
'within 0.05 nats of the floor by step 2,000'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace

from playground.settings import QUERY_KEYS, Settings, from_query

__all__ = [
    "Promise",
    "Scene",
    "SceneCursor",
    "TALK_SCRIPT",
    "PROMISE_KINDS",
    "load_script",
    "script_to_json",
    "check_promise",
]

PROMISE_KINDS = ("identity", "floor_by", "above_floor", "guard_recovers", "sum_of_parts")


@dataclass(frozen=True)
class Promise:
    """A checkable claim about a scene's run (see the module docstring for the kinds)."""

    kind: str
    step: int = 0
    nats: float = 0.0
    after: int = 0

    def __post_init__(self) -> None:
        if self.kind not in PROMISE_KINDS:
            raise ValueError(f"promise kind {self.kind!r} is not one of {', '.join(PROMISE_KINDS)}")

    def text(self) -> str:
        """The promise in words, as the caption shows it."""
        if self.kind == "identity":
            return "at step 0 the flow is the identity: the density is the base Gaussian's"
        if self.kind == "floor_by":
            return f"within {self.nats:g} nats of the floor by step {self.step:,}"
        if self.kind == "above_floor":
            return f"still at least {self.nats:g} nats above the floor at step {self.step:,}"
        if self.kind == "guard_recovers":
            return (
                f"blows up after step {self.after:,}; the guard restores the last good weights, halves the learning "
                f"rate, and the run is within {self.nats:g} nats of the floor by step {self.step:,}"
            )
        return "log p(x) is exactly the base log-density plus every layer's log-det"


@dataclass(frozen=True)
class Scene:
    """One step of a talk: what to set up, what the audience will see, and the measured promise."""

    key: str
    title: str
    settings: Settings
    caption: str
    promise: Promise
    page: str = "playground"  # or "layers": the scene opens the Layer-by-layer page on the current model

    def to_dict(self) -> dict:
        changed = {f.name: getattr(self.settings, f.name) for f in fields(Settings)}
        default = Settings()
        return {
            "key": self.key,
            "title": self.title,
            "caption": self.caption,
            "settings": {k: v for k, v in changed.items() if getattr(default, k) != v},
            "promise": {f.name: getattr(self.promise, f.name) for f in fields(Promise)},
            "page": self.page,
        }


def _cosine(steps: int, **kw) -> Settings:
    return Settings(schedule="cosine", decay_steps=steps, **kw)


TALK_SCRIPT: tuple[Scene, ...] = (
    Scene(
        "identity",
        "1 · A flow starts as the identity",
        _cosine(2000),
        "Before the first step every coupling's last layer is zero: the model is the standard Gaussian on the "
        "standardised data — a round blob, nothing like two moons.",
        Promise("identity"),
    ),
    Scene(
        "moons",
        "2 · Moons converge",
        _cosine(2000),
        "Press Space: eight affine couplings bend the Gaussian into two moons; the held-out NLL falls onto the "
        "dashed entropy floor.",
        Promise("floor_by", step=2000, nats=0.06),
    ),
    Scene(
        "additive",
        "3 · Additive couplings cannot change volume",
        Settings(coupling="additive"),
        "NICE's additive couplings have log-det 0: they can move probability mass but never concentrate it, so the "
        "loss stalls far above the floor however long it trains.",
        Promise("above_floor", step=1500, nats=0.3),
    ),
    Scene(
        "depth",
        "4 · Depth matters",
        _cosine(2000, n_layers=2),
        "The same moons with two couplings instead of eight: each half is transformed once, and the fit stops well "
        "short of the floor.",
        Promise("above_floor", step=2000, nats=0.1),
    ),
    Scene(
        "exp-blowup",
        "5 · Raw exp scales blow up — and recover",
        Settings(scale="exp", lr=0.1, grad_clip=0.0, schedule="ramp", decay_steps=1500),
        "Unbounded exp scales, no clipping, and a learning rate ramping up towards 0.1: a few seconds in the loss "
        "overflows; the guard restores the last good weights and halves the learning rate (watch the slider).",
        Promise("guard_recovers", after=300, step=3000, nats=0.5),
    ),
    Scene(
        "checkerboard",
        "6 · A hard dataset, with a learning-rate decay",
        _cosine(3000, dataset="checkerboard", noise=0.05, n_points=10000, batch_size=256, lr=3e-3),
        "A checkerboard's sharp edges are hard for smooth maps; a cosine learning-rate decay settles the fit "
        "instead of letting it spike, and the corners sharpen as the rate falls. Most seeds end about 0.1 nats "
        "above the floor; an unlucky one keeps a torn square (seed 6: 0.37–0.43, depending on the CPU).",
        Promise("floor_by", step=3000, nats=0.5),
    ),
    Scene(
        "layers",
        "7 · The same model, layer by layer",
        _cosine(3000, dataset="checkerboard", noise=0.05, n_points=10000, batch_size=256, lr=3e-3),
        "Open the trained model on the Layer-by-layer page: each coupling's move, its log-det, and log p(x) as a "
        "sum of its parts.",
        Promise("sum_of_parts"),
        page="layers",
    ),
)


def _settings_from(values: dict) -> Settings:
    """Settings from a scene file: URL names (``ds``, ``layers``) or field names, validated like a URL."""
    by_field = {f.name for f in fields(Settings)}
    query = {}
    for name, value in values.items():
        key = QUERY_KEYS.get(name, name) if name in by_field else name
        if key not in QUERY_KEYS.values():
            raise ValueError(f"unknown setting {name!r}; accepted: {', '.join(sorted(by_field))}")
        query[key] = str(value)
    settings, notes = from_query(query)
    if notes:
        raise ValueError("; ".join(notes))
    return settings


def load_script(text: str) -> tuple[Scene, ...]:
    """A speaker's talk script from JSON (a list of scenes); raises ValueError saying what is wrong.

    >>> scenes = load_script('[{"title": "Mine", "caption": "Watch.", "settings": {"ds": "circles", "layers": 4},'
    ...                      ' "promise": {"kind": "floor_by", "step": 1000, "nats": 0.1}}]')
    >>> scenes[0].settings.dataset, scenes[0].settings.n_layers, scenes[0].promise.text()
    ('circles', 4, 'within 0.1 nats of the floor by step 1,000')
    """
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"a talk script must be JSON: {exc}") from exc
    if not isinstance(raw, list) or not raw or len(raw) > 50:
        raise ValueError("a talk script is a JSON list of 1 to 50 scenes")
    scenes = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"scene {i} must be a JSON object")
        try:
            promise = Promise(**item.get("promise", {"kind": "identity"}))
            settings = _settings_from(item.get("settings", {}))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"scene {i}: {exc}") from exc
        page = item.get("page", "playground")
        if page not in ("playground", "layers"):
            raise ValueError(f"scene {i}: page must be 'playground' or 'layers', got {page!r}")
        title = str(item.get("title") or f"Scene {i}")[:80]
        scenes.append(
            Scene(
                str(item.get("key", f"scene-{i}"))[:40],
                title,
                settings,
                str(item.get("caption", ""))[:400],
                promise,
                page,
            )
        )
    return tuple(scenes)


def script_to_json(scenes: tuple[Scene, ...]) -> str:
    """The JSON :func:`load_script` reads back (a template for a speaker's own script)."""
    return json.dumps([s.to_dict() for s in scenes], indent=2)


@dataclass
class SceneCursor:
    """Where a talk is: the script and the index of the current scene."""

    scenes: tuple[Scene, ...] = TALK_SCRIPT
    index: int = 0
    active: bool = False  # False until the speaker starts the script (→ or ▶): then the page runs its scenes

    @property
    def scene(self) -> Scene:
        return self.scenes[self.index]

    def move(self, delta: int) -> Scene:
        """Go ``delta`` scenes on (clamped); the first move of an inactive script starts it at scene 1.

        >>> cursor = SceneCursor()
        >>> cursor.move(+1).key, cursor.move(+1).key, cursor.move(-5).key
        ('identity', 'moons', 'identity')
        """
        if not self.active:
            self.active, self.index = True, 0
        else:
            self.index = max(0, min(len(self.scenes) - 1, self.index + delta))
        return self.scene


def check_promise(scene: Scene, seed: int, heldout_points: int = 4096) -> dict:
    """Train ``scene`` with ``seed`` exactly as the Playground does and measure its promise.

    Returns ``{"kept": bool, ...measurements}``: the gap to the floor at the promised step, the guard's events.
    """
    import torch

    from realnvp.flow import base_log_prob
    from realnvp.training import Trainer

    settings = replace(scene.settings, seed=seed)
    trainer = Trainer.for_dataset(
        settings.dataset,
        noise=settings.noise,
        n_points=settings.n_points,
        seed=seed,
        flow=settings.flow_config(),
        optim=settings.optim_config(),
        heldout_points=heldout_points,
    )
    p = scene.promise
    if p.kind == "identity":
        with torch.no_grad():
            x = trainer.x_heldout[:512]
            z, log_det = trainer.model(x)
        error = float((z - x).abs().max())
        return {"kept": error < 1e-6 and float(log_det.abs().max()) < 1e-6, "max_abs_z_minus_x": error}
    if p.kind == "sum_of_parts":
        trainer.step(200)
        model = trainer.model.eval()
        x = trainer.x_heldout[:16]
        with torch.no_grad():
            trace = model.trace(x)
            parts = base_log_prob(trace.states[-1]) + sum(trace.log_dets)
        # independent of the layers' own log-dets: the whole map's Jacobian by autograd, point by point
        exact = []
        for point in x:
            jac = torch.autograd.functional.jacobian(lambda v: model(v[None])[0][0], point)
            z = model(point[None])[0]
            exact.append(float((base_log_prob(z)[0] + torch.linalg.slogdet(jac)[1]).detach()))
        error = float((parts - torch.tensor(exact, dtype=parts.dtype)).abs().max())
        return {"kept": error < 1e-3, "max_abs_error": error, "layers": len(trace.log_dets)}
    while trainer.step_count < p.step:
        trainer.step(p.step - trainer.step_count)  # fewer steps are kept when the guard rewinds
    trainer.evaluate()
    gap = float(trainer.gap)
    result = {"gap": round(gap, 4), "step": trainer.step_count, "events": list(trainer.history.events)}
    if p.kind == "floor_by":
        result["kept"] = gap <= p.nats
    elif p.kind == "above_floor":
        result["kept"] = gap >= p.nats
    else:  # guard_recovers
        first = _first_bad_step(trainer.history.events)
        result["first_blowup_step"] = first
        result["lr_after"] = trainer.optim.lr
        result["kept"] = first is not None and first > p.after and gap <= p.nats
    return result


def _first_bad_step(events: list[str]) -> int | None:
    for event in events:
        if event.startswith("Step "):
            try:
                return int(event.split(":")[0].split()[1])
            except (IndexError, ValueError):
                continue
    return None
