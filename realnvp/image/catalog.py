"""The shipped pretrained image flows: save, verify and load them without ever unpickling.

A flow lives in one folder (``assets/flows/<name>/``):

- ``model.safetensors`` — the weights (safetensors: tensors only, no code);
- ``config.json`` — ``{"format": "realnvp-image-flow", "version": 1, "dataset": ..., "flow": {...}}``, the
  :class:`~realnvp.image.ImageFlowConfig` that rebuilds the architecture;
- ``card.json`` — the model card: data, split, command, steps, minutes, bits/dim, parameter count, file size
  and the ``sha256`` of ``model.safetensors``;
- ``heldout.npy`` — a few test-split images (``uint8`` levels, ``(N, C, H, W)``), read with
  ``allow_pickle=False``, so the app needs none of the training data;
- ``heldout_labels.npy`` — their class labels (``int64``), for a class-conditional flow (card ``"n_classes"``).

:func:`load_flow` checks the weight file against the card's sha256 and raises :class:`FlowLoadError` (a
``ValueError``) saying what is wrong; :func:`list_flows` reports every folder with its status, so one missing
or corrupt model disables only itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

from realnvp.image import ImageFlowConfig, ImageRealNVP

__all__ = [
    "FLOWS_DIR",
    "PUBLISHED_BPD",
    "FlowLoadError",
    "FlowInfo",
    "LoadedFlow",
    "sha256_file",
    "save_flow",
    "resolve_flow_dir",
    "list_flows",
    "load_flow",
]

FLOWS_DIR = Path(__file__).resolve().parents[2] / "assets" / "flows"
MODEL_FILE, CONFIG_FILE, CARD_FILE, HELDOUT_FILE, HELDOUT_LABELS_FILE = (
    "model.safetensors",
    "config.json",
    "card.json",
    "heldout.npy",
    "heldout_labels.npy",
)
_FORMAT = "realnvp-image-flow"

#: Published test bits/dim for context: full training sets and GPU-days, not comparable one-to-one.
PUBLISHED_BPD = {
    "mnist": {
        "RealNVP (Dinh et al. 2017; as tabulated in FFJORD)": 1.06,
        "Glow (Kingma & Dhariwal 2018; as tabulated in FFJORD)": 1.05,
        "FFJORD (Grathwohl et al. 2019)": 0.99,
    },
    "cifar10": {"RealNVP (Dinh et al. 2017)": 3.49},
}


class FlowLoadError(ValueError):
    """A shipped flow cannot be used: missing file, unreadable JSON, checksum mismatch or bad weights.

    >>> try:
    ...     load_flow("/nonexistent/flow")
    ... except ValueError as exc:
    ...     print(type(exc).__name__, exc)
    FlowLoadError no flow folder at /nonexistent/flow
    """


@dataclass
class FlowInfo:
    """One folder of the catalogue and whether it can be loaded (``error`` is ``None`` when it can).

    >>> [f.name for f in list_flows("/nonexistent")]
    []
    """

    name: str
    path: Path
    card: dict
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class LoadedFlow:
    """A verified flow ready for read-only use: the model (eval mode, no grads), its card and held-out images.

    >>> import tempfile
    >>> from realnvp.image import ImageFlowConfig, ImageRealNVP
    >>> folder = Path(tempfile.mkdtemp()) / "tiny"
    >>> save_flow(folder, ImageRealNVP(ImageFlowConfig(hidden=4)), dataset="digits", card={"note": "demo"})
    >>> loaded = load_flow(folder)
    >>> loaded.card["note"], loaded.model.training
    ('demo', False)
    """

    name: str
    path: Path
    model: ImageRealNVP
    config: dict
    card: dict
    heldout: np.ndarray | None
    heldout_labels: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes a class-conditional flow takes (0: unconditional)."""
        return self.model.config.n_classes


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_flow(
    folder: str | Path,
    model: ImageRealNVP,
    dataset: str,
    card: dict | None = None,
    heldout: np.ndarray | None = None,
    heldout_labels: np.ndarray | None = None,
) -> None:
    """Write weights + config; if given, the card (completed with size, sha256 and, for a class-conditional flow,
    ``n_classes``), held-out images and their labels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / MODEL_FILE), metadata={"format": _FORMAT})
    config = {"format": _FORMAT, "version": 1, "dataset": dataset, "flow": model.config.to_dict()}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    if heldout is not None:
        np.save(folder / HELDOUT_FILE, np.ascontiguousarray(heldout, dtype=np.uint8), allow_pickle=False)
    if heldout_labels is not None:
        labels = np.ascontiguousarray(heldout_labels, dtype=np.int64)
        np.save(folder / HELDOUT_LABELS_FILE, labels, allow_pickle=False)
    if card is not None:
        card = dict(card)
        if model.config.n_classes:
            card["n_classes"] = model.config.n_classes
        card["parameters"] = sum(p.numel() for p in model.parameters())
        card["file_bytes"] = (folder / MODEL_FILE).stat().st_size
        card["sha256"] = sha256_file(folder / MODEL_FILE)
        (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")


def resolve_flow_dir(name: str | Path, root: str | Path | None = None) -> Path:
    """A folder path as given, or else ``root / name`` (``root`` defaults to :data:`FLOWS_DIR`)."""
    path = Path(name)
    if path.is_dir():
        return path
    return Path(FLOWS_DIR if root is None else root) / str(name)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FlowLoadError(f"{path.parent.name}: {path.name} is missing")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlowLoadError(f"{path.parent.name}: {path.name} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise FlowLoadError(f"{path.parent.name}: {path.name} must hold a JSON object")
    return data


def _check(folder: Path) -> tuple[dict, dict]:
    """Validate a folder's files (existence, JSON, format, sha256); return ``(config, card)``."""
    if not folder.is_dir():
        raise FlowLoadError(f"no flow folder at {folder}")
    config = _read_json(folder / CONFIG_FILE)
    card = _read_json(folder / CARD_FILE)
    if config.get("format") != _FORMAT:
        raise FlowLoadError(f"{folder.name}: config.json format is {config.get('format')!r}, expected {_FORMAT!r}")
    weights = folder / MODEL_FILE
    if not weights.is_file():
        raise FlowLoadError(f"{folder.name}: {MODEL_FILE} is missing")
    expected = card.get("sha256")
    if not expected:
        raise FlowLoadError(f"{folder.name}: card.json has no sha256 to check {MODEL_FILE} against")
    actual = sha256_file(weights)
    if actual != expected:
        raise FlowLoadError(
            f"{folder.name}: {MODEL_FILE} is corrupt or replaced (sha256 {actual[:12]}…, card says {expected[:12]}…)"
        )
    return config, card


def list_flows(root: str | Path | None = None) -> list[FlowInfo]:
    """Every flow folder under ``root`` (default :data:`FLOWS_DIR`), sorted, with card and status; never raises."""
    root = Path(FLOWS_DIR if root is None else root)
    if not root.is_dir():
        return []
    infos = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        try:
            _, card = _check(folder)
            infos.append(FlowInfo(folder.name, folder, card, None))
        except FlowLoadError as exc:
            try:
                card = json.loads((folder / CARD_FILE).read_text())
            except (OSError, ValueError):
                card = {}
            infos.append(FlowInfo(folder.name, folder, card if isinstance(card, dict) else {}, str(exc)))
    return infos


def load_flow(name: str | Path, root: str | Path | None = None, map_location: str = "cpu") -> LoadedFlow:
    """Verify and load a flow (a folder path or a name under ``root``); raises :class:`FlowLoadError`."""
    folder = resolve_flow_dir(name, root)
    config, card = _check(folder)
    try:
        flow_config = ImageFlowConfig.from_dict(config["flow"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FlowLoadError(f"{folder.name}: config.json does not describe an image flow ({exc})") from exc
    model = ImageRealNVP(flow_config)
    try:
        state = load_file(str(folder / MODEL_FILE), device=map_location)
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # safetensors raises its own error types for truncated or malformed files
        raise FlowLoadError(f"{folder.name}: {MODEL_FILE} does not match config.json ({exc})") from exc
    model.to(map_location).eval().requires_grad_(False)
    heldout = None
    if (folder / HELDOUT_FILE).is_file():
        try:
            heldout = np.load(folder / HELDOUT_FILE, allow_pickle=False)
        except ValueError as exc:
            raise FlowLoadError(f"{folder.name}: {HELDOUT_FILE} is unreadable ({exc})") from exc
        shape = (flow_config.channels, flow_config.height, flow_config.width)
        if heldout.ndim != 4 or heldout.shape[1:] != shape or heldout.dtype != np.uint8:
            raise FlowLoadError(f"{folder.name}: {HELDOUT_FILE} must hold uint8 images (N, {shape})")
    heldout_labels = None
    if heldout is not None and flow_config.n_classes and (folder / HELDOUT_LABELS_FILE).is_file():
        try:
            heldout_labels = np.load(folder / HELDOUT_LABELS_FILE, allow_pickle=False)
        except ValueError as exc:
            raise FlowLoadError(f"{folder.name}: {HELDOUT_LABELS_FILE} is unreadable ({exc})") from exc
        if heldout_labels.shape != (len(heldout),) or heldout_labels.dtype.kind not in "iu":
            raise FlowLoadError(f"{folder.name}: {HELDOUT_LABELS_FILE} must hold one integer label per image")
    return LoadedFlow(folder.name, folder, model, config, card, heldout, heldout_labels)
