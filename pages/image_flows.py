"""Image flows: sample from pretrained multi-scale RealNVPs, encode and decode held-out images, interpolate
between them in latent space, and see what each scale of the latent code holds.

A Streamlit page script (registered by app.py with ``st.Page``). Controls, then ``realnvp`` calls, then pictures:
all maths lives in ``realnvp.image``; models load once per server (``st.cache_resource``) and are used
read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from playground.components.shell import ensure_app_shell
from playground.plots.images import heatmap_figure, image_grid
from realnvp.image import interpolate, resample_scale, round_trip
from realnvp.image.catalog import PUBLISHED_BPD, FlowLoadError, LoadedFlow, list_flows, load_flow
from realnvp.image.data import MNIST_ATTRIBUTION

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

ZOOM = {8: 8, 28: 3}  # screen pixels per image pixel, by image height


@dataclass(frozen=True)
class Sampling:
    """The sidebar's state, read from its widgets (keys ``img-*``) once per run; the tabs below use it."""

    flow: str
    temperature: float
    seed: int
    n_samples: int


@st.cache_resource(show_spinner="Loading the flow…")
def _load(folder: str, sha256: str, heldout_stamp: int | None) -> LoadedFlow:
    """One verified, read-only model per (folder, weights, held-out file); a replaced file reloads."""
    return load_flow(Path(folder))


def _reseed() -> None:
    st.session_state["img-seed"] = int(st.session_state.get("img-seed", 0)) + 1


def _show(images, n_cols: int, caption: str | None = None) -> None:
    zoom = ZOOM.get(images.shape[-1], 4)
    st.image(image_grid(images, ncols=n_cols, zoom=zoom), caption=caption)


# One torch thread: on a few shared cores a second OpenMP thread spin-waits and makes these small
# models ~10x slower (measured: 64 samples 0.37 s at 2 threads vs 0.03 s at 1 on this 2-core machine).
torch.set_num_threads(1)

st.title("Image flows")
st.caption(
    "Multi-scale RealNVP (Dinh et al. 2017) trained here on CPU: checkerboard couplings, squeeze, channel "
    "couplings, half the channels factored out at each scale. Pick a flow, then sample, reconstruct, "
    "interpolate and resample one scale at a time."
)

flows = list_flows()
usable = [f for f in flows if f.ok]
for broken in (f for f in flows if not f.ok):
    st.warning(f"Model **{broken.name}** is disabled: {broken.error}", icon=":material/warning:")
if not usable:
    st.error(
        "No image flow could be loaded. Train one with `python -m realnvp train-image --data digits "
        "--out assets/flows/digits`."
    )
    st.stop()

by_name = {f.name: f for f in usable}
name = st.selectbox(
    "Flow",
    list(by_name),
    key="img-flow",
    format_func=lambda n: f"{n} — test {by_name[n].card.get('test_bpd', '?')} bits/dim",
)
try:
    heldout_file = by_name[name].path / "heldout.npy"
    stamp = heldout_file.stat().st_mtime_ns if heldout_file.exists() else None
    loaded = _load(str(by_name[name].path), by_name[name].card["sha256"], stamp)
except FlowLoadError as exc:
    st.error(f"Model **{name}** is disabled: {exc}")
    st.stop()
model, card = loaded.model, loaded.card
heldout = loaded.heldout
n_scales = len(model.config.latent_shapes())

with st.sidebar:
    st.subheader("Sampling")
    temperature = st.slider(
        "Temperature",
        0.0,
        1.5,
        0.8,
        0.05,
        key="img-temperature",
        help="Latents are drawn from N(0, T²): lower T, cleaner but less varied images.",
    )
    st.session_state.setdefault("img-seed", 0)  # set here, not as a default: the button's callback changes it
    seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="img-seed")
    st.button("New samples", key="img-reseed", on_click=_reseed)
    n_samples = st.select_slider("Samples", [16, 36, 64], 64, key="img-n")

view = Sampling(name, float(temperature), int(seed), int(n_samples))
n_held = 0 if heldout is None else len(heldout)

tab_samples, tab_code, tab_interp, tab_scales, tab_card = st.tabs(
    ["Samples", "Encode / decode", "Interpolate", "What each scale holds", "Model card"]
)

with tab_samples, torch.no_grad():
    generator = torch.Generator().manual_seed(view.seed)
    samples = model.sample(view.n_samples, view.temperature, generator)
    _show(samples, int(view.n_samples**0.5), f"{view.n_samples} samples, T = {view.temperature:.2f}, seed {view.seed}")

if n_held == 0:
    for tab in (tab_code, tab_interp, tab_scales):
        tab.info("This flow ships no held-out images.")
else:
    k = model.config.n_levels
    with tab_code:
        st.write("Held-out test images (never seen in training):")
        _show(torch.as_tensor(heldout).float() / (k - 1), n_held)
        image = st.slider("Image", 0, n_held - 1, 0, key="img-image")
        result = round_trip(model, heldout[image : image + 1], seed=0)
        c1, c2, c3 = st.columns(3)
        c1.metric("Round-trip max |error|", f"{result['max_abs_error']:.1e}")
        c2.metric("Bits/dim of this image", f"{float(result['bpd'][0]):.3f}")
        c3.metric("Same levels after decode", "yes" if result["levels_equal"] else "no")
        pair = torch.cat([result["x"], result["x_rec"]])
        _show(pair, 2, "left: dequantised input x = (level + u)/K; right: decode(encode(x))")
        error = (result["x_rec"] - result["x"]).abs()[0].amax(0).numpy()
        st.plotly_chart(heatmap_figure(error, "|decode(encode(x)) − x| per pixel", "abs error"), key="img-err")

    with tab_interp:
        c1, c2, c3 = st.columns(3)
        a = c1.slider("From image", 0, n_held - 1, 0, key="img-a")
        b = c2.slider("To image", 0, n_held - 1, min(1, n_held - 1), key="img-b")
        steps = c3.slider("Steps", 3, 12, 8, key="img-steps")
        xs = round_trip(model, heldout[[a, b]], seed=0)["x"]
        path = interpolate(model, xs[0], xs[1], steps)
        _show(path, steps, "straight line between the two images' latents (all scales)")

    with tab_scales:
        shapes = model.config.latent_shapes()
        c1, c2 = st.columns(2)
        src = c1.slider("Image", 0, n_held - 1, 0, key="img-scale-image")
        scale = c2.radio(
            "Resample scale",
            list(range(n_scales)),
            format_func=lambda s: (
                f"{s} ({'finest' if s == 0 else 'coarsest' if s == n_scales - 1 else 'mid'}, "
                f"{shapes[s][0]}×{shapes[s][1]}×{shapes[s][2]})"
            ),
            horizontal=True,
            key="img-scale",
        )
        x0 = round_trip(model, heldout[src : src + 1], seed=0)["x"][0]
        variants = resample_scale(model, x0, scale, 15, view.temperature, torch.Generator().manual_seed(view.seed))
        _show(
            torch.cat([x0[None], variants]),
            8,
            f"first: the held-out image; then 15 redraws of scale {scale} at T = {view.temperature:.2f}, "
            "every other scale kept",
        )
        st.caption(
            "Scale 0 is factored out first, after one round of couplings and a squeeze; the last scale has "
            "passed through every coupling. On MNIST (three scales) redrawing scale 0 only changes stroke "
            "texture while the coarsest scale changes the digit; in the 8×8 flows each of the two scales "
            "holds half the pixels' worth of latents, so both redraws move the shape."
        )

with tab_card:
    facts = {
        "Data": card.get("data"),
        "Split": card.get("split"),
        "Dequantisation": card.get("dequantization"),
        "Test bits/dim": card.get("test_bpd"),
        "Validation bits/dim": card.get("val_bpd"),
        "Parameters": f"{card.get('parameters', 0):,}",
        "Weights": f"{card.get('file_bytes', 0) / 1e6:.2f} MB, sha256 {str(card.get('sha256'))[:16]}…",
        "Trained": f"{card.get('steps')} steps, {card.get('minutes')} min, {card.get('trained_on')}",
        "Command": f"`{card.get('command')}`",
    }
    st.markdown("\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts.items()]))
    if "baselines_test_bpd" in card:
        st.markdown(
            "**Baselines on the same test split:** "
            + ", ".join(f"{k}: {v}" for k, v in card["baselines_test_bpd"].items())
        )
    if "caveat" in card:
        st.info(card["caveat"])
    st.markdown("**Published numbers for context** (full datasets, GPU-days; ours are small CPU runs):")
    rows = [f"| MNIST (28×28, 60k training images) | {m} | {v} |" for m, v in PUBLISHED_BPD["mnist"].items()]
    rows += [f"| CIFAR-10 (32×32 RGB) | {m} | {v} |" for m, v in PUBLISHED_BPD["cifar10"].items()]
    st.markdown("\n".join(["| Data | Model | Test bits/dim |", "|---|---|---|", *rows]))
    with st.expander("Full model card (card.json)"):
        st.json(card, expanded=False)

st.caption(f"MNIST attribution: {MNIST_ATTRIBUTION}")
