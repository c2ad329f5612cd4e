"""Save and load vector flows as safetensors weights + a JSON config. Loading never unpickles.

A checkpoint is a folder holding ``model.safetensors`` and ``config.json``. The same JSON is also embedded in the
safetensors header (metadata key ``"realnvp"``), so a single ``.safetensors`` file is a complete checkpoint too —
that is what the app's download button produces.

    save_flow("runs/moons", model, standardizer=trainer.standardizer)
    model, meta = load_flow("runs/moons")      # or load_flow("moons.safetensors")

>>> from realnvp import RealNVP
>>> flow = RealNVP(2, n_layers=2)
>>> model, meta = flow_from_bytes(flow_to_bytes(flow))
>>> model.config == flow.config, meta["format"]
(True, 'realnvp-vector/1')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from realnvp.datasets import Standardizer
from realnvp.flow import FlowConfig, RealNVP

__all__ = ["FORMAT", "save_flow", "load_flow", "flow_to_bytes", "flow_from_bytes", "CheckpointError"]

FORMAT = "realnvp-vector/1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class CheckpointError(ValueError):
    """A checkpoint could not be read: the message says what is wrong and what is expected."""


def _metadata(model: RealNVP, standardizer: Standardizer | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": FORMAT, "flow": model.config.to_dict()}
    if standardizer is not None:
        meta["standardizer"] = {
            "mean": np.asarray(standardizer.mean, float).tolist(),
            "scale": np.asarray(standardizer.scale, float).tolist(),
        }
        if standardizer.matrix is not None:  # a full whitening map: y = ((x - mean) / scale) @ matrix.T
            meta["standardizer"]["matrix"] = np.asarray(standardizer.matrix, float).tolist()
    if extra:
        meta["extra"] = extra
    return meta


def flow_to_bytes(
    model: RealNVP, standardizer: Standardizer | None = None, extra: dict[str, Any] | None = None
) -> bytes:
    """The model as one self-contained ``.safetensors`` file (config embedded in its header)."""
    meta = _metadata(model, standardizer, extra)
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    return save_safetensors_bytes(tensors, metadata={"realnvp": json.dumps(meta)})


def save_flow(
    directory: str | Path,
    model: RealNVP,
    standardizer: Standardizer | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / WEIGHTS).write_bytes(flow_to_bytes(model, standardizer, extra))
    (directory / CONFIG).write_text(json.dumps(_metadata(model, standardizer, extra), indent=2) + "\n")
    return directory


def _read_header_metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise CheckpointError("the weights file is too short to be a safetensors file")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or n > len(data) - 8 or n > 100_000_000:
        raise CheckpointError("the weights file is not a safetensors file (bad header length)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"the weights file is not a safetensors file (header is not JSON: {err})") from None
    meta = header.get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}


def flow_from_bytes(data: bytes, meta: dict[str, Any] | None = None) -> tuple[RealNVP, dict[str, Any]]:
    """Rebuild a flow from ``.safetensors`` bytes (and its config, else the one embedded in the header)."""
    if meta is None:
        embedded = _read_header_metadata(data).get("realnvp")
        if embedded is None:
            raise CheckpointError(
                "this safetensors file carries no RealNVP config; pass the folder with config.json instead"
            )
        try:
            meta = json.loads(embedded)
        except json.JSONDecodeError as err:
            raise CheckpointError(f"the embedded config is not valid JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"unsupported checkpoint format {got!r}; expected {FORMAT!r}")
    try:
        config = FlowConfig.from_dict(meta["flow"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"the config has no valid 'flow' section ({err})") from None
    try:
        tensors = load_safetensors_bytes(data)
    except (SafetensorError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"the weights file is not a readable safetensors file: {err}") from None
    model = RealNVP.from_config(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"the weights do not match the config ({config.n_layers} layers, hidden {list(config.hidden_dims)}): "
            f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}"
        )
    for key, value in tensors.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(
                f"tensor {key!r} has shape {tuple(value.shape)} but the config needs {tuple(expected[key].shape)}"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"tensor {key!r} holds NaN or infinite values")
    model.load_state_dict(tensors)
    model.eval()
    return model, meta


def load_flow(path: str | Path) -> tuple[RealNVP, dict[str, Any]]:
    """Load a checkpoint folder (``model.safetensors`` + ``config.json``) or a single ``.safetensors`` file.

    Returns ``(model, meta)``; ``meta["standardizer"]`` (if present) maps model space back to data units via
    :func:`standardizer_from_meta`. Raises :class:`CheckpointError` (a ``ValueError``) saying what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        weights, config = path / WEIGHTS, path / CONFIG
        if not weights.is_file():
            raise CheckpointError(f"{path} has no {WEIGHTS}; a checkpoint folder holds {WEIGHTS} and {CONFIG}")
        meta = None
        if config.is_file():
            try:
                meta = json.loads(config.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise CheckpointError(f"{config} is not valid JSON: {err}") from None
        return flow_from_bytes(weights.read_bytes(), meta)
    if path.is_file():
        return flow_from_bytes(path.read_bytes())
    raise CheckpointError(f"no checkpoint at {path}: give a folder with {WEIGHTS} + {CONFIG} or a .safetensors file")


def standardizer_from_meta(meta: dict[str, Any]) -> Standardizer | None:
    """The data standardisation stored with a checkpoint, or None."""
    s = meta.get("standardizer")
    if not s:
        return None
    matrix = s.get("matrix")
    try:
        return Standardizer(
            mean=np.asarray(s["mean"], float),
            scale=np.asarray(s["scale"], float),
            matrix=None if matrix is None else np.asarray(matrix, float),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"the checkpoint's standardizer is not valid: {err}") from None
