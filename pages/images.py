"""Image flows: sample from pretrained multi-scale RealNVPs (and ask a class-conditional one for a digit),
encode and decode held-out images, classify them by Bayes' rule, interpolate between them in latent space, see what
each scale of the latent code holds, and train a flow live.

A Streamlit page script (registered by app.py with ``st.Page``). Controls, then ``realnvp`` calls, then pictures:
all maths lives in ``realnvp.image``; shipped models load once per server (``st.cache_resource``) and are used
read-only; live training runs in the Playground's background machinery (``playground.components.image_live``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from playground.components.image_live import OWN_FLOW, PRETRAINED, TRAIN_LIVE, ImageLiveView
from playground.components.shell import ensure_app_shell
from playground.plots.images import class_scores_figure, heatmap_figure, image_grid
from playground.state import ImageLiveState
from playground.views.images import card_facts, markdown_cell, most_structured, published_rows
from realnvp.image import class_bits_per_dim, interpolate, resample_scale, round_trip
from realnvp.image.catalog import FlowLoadError, LoadedFlow, list_flows, load_flow
from realnvp.image.data import MNIST_ATTRIBUTION

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

ZOOM = {8: 8, 14: 5, 28: 3}  # screen pixels per image pixel, by image height


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


def _stop_live() -> None:
    live = st.session_state.get("image-live")
    if live is not None:
        live.stop_training()


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
    "interpolate and resample one scale at a time, or train one live and watch it learn."
)

flows = list_flows()
usable = [f for f in flows if f.ok]
mode = st.segmented_control("View", [PRETRAINED, TRAIN_LIVE], default=PRETRAINED, key="img-mode", on_change=_stop_live)

if mode == TRAIN_LIVE:
    live = st.session_state.setdefault("image-live", ImageLiveState())
    shipped = {f.card.get("dataset"): f.card.get("test_bpd") for f in usable if not f.card.get("n_classes")}
    reference = {"shipped flow (test)": shipped["digits"]} if live.dataset == "digits" and "digits" in shipped else {}
    view = ImageLiveView(live, reference)
    view.controls()
    view.transport()
    view.live()
    view.downloads()
    st.caption(
        "The grid decodes the same latent draw every frame, so what changes is the model. Validation bits/dim "
        "are measured on the held-out validation split once a second; a first flow on the 8×8 digits passes 2.0 "
        "bits/dim within about a minute on one CPU core. Training shares the server with the Playground's "
        "visitors (one slot each, in turns); pausing or leaving the page frees the slot."
    )
    st.stop()

for broken in (f for f in flows if not f.ok):
    st.warning(f"Model **{broken.name}** is disabled: {broken.error}", icon=":material/warning:")
own: LoadedFlow | None = st.session_state.get("img-live-flow")
if not usable and own is None:
    st.error(
        "No image flow could be loaded. Train one with `python -m realnvp train-image --data digits "
        "--out assets/flows/digits`, or use Train live above."
    )
    st.stop()

by_name = {f.name: f for f in usable}
options = list(by_name) + ([OWN_FLOW] if own is not None else [])


def _label(n: str) -> str:
    if n == OWN_FLOW:
        return f"your model ({own.name}) — test {own.card.get('test_bpd', '?')} bits/dim"
    cond = " · class-conditional" if by_name[n].card.get("n_classes") else ""
    return f"{n} — test {by_name[n].card.get('test_bpd', '?')} bits/dim{cond}"


if st.session_state.get("img-flow") not in options:
    st.session_state.pop("img-flow", None)
name = st.selectbox("Flow", options, key="img-flow", format_func=_label)
if name == OWN_FLOW:
    loaded = own
else:
    try:
        heldout_file = by_name[name].path / "heldout.npy"
        stamp = heldout_file.stat().st_mtime_ns if heldout_file.exists() else None
        loaded = _load(str(by_name[name].path), by_name[name].card["sha256"], stamp)
    except FlowLoadError as exc:
        st.error(f"Model **{name}** is disabled: {exc}")
        st.stop()
model, card = loaded.model, loaded.card
heldout, heldout_labels = loaded.heldout, loaded.heldout_labels
n_classes = model.config.n_classes
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


def _label_of(i: int) -> int | None:
    """The class a conditional flow is run with for held-out image ``i`` (its true label); None if unconditional."""
    return None if not n_classes or heldout_labels is None else int(heldout_labels[i])


tab_names = ["Samples", "Encode / decode", "Interpolate", "What each scale holds", "Model card"]
if n_classes:
    tab_names.insert(1, "Ask for a class · classify")
tabs = dict(zip(tab_names, st.tabs(tab_names), strict=True))

with tabs["Samples"], torch.no_grad():
    generator = torch.Generator().manual_seed(view.seed)
    cols = 10 if n_classes else int(view.n_samples**0.5)
    labels = torch.arange(view.n_samples) % n_classes if n_classes else None
    samples = model.sample(view.n_samples, view.temperature, generator, labels)
    caption = f"{view.n_samples} samples, T = {view.temperature:.2f}, seed {view.seed}"
    _show(samples, cols, caption + (" · column = class 0…9" if n_classes else ""))

if n_classes:
    with tabs["Ask for a class · classify"]:
        st.markdown("**Ask for a class.** The label conditions every coupling; the base stays N(0, I).")
        c1, c2 = st.columns([3, 1])
        wanted = c1.segmented_control("Class", list(range(n_classes)), default=7, key="img-class")
        wanted = 7 if wanted is None else int(wanted)
        c2.caption(f"Temperature {view.temperature:.2f} (sidebar) changes the style, not the class.")
        with torch.no_grad():
            g = torch.Generator().manual_seed(view.seed)
            asked = model.sample(20, view.temperature, g, wanted)
        _show(asked, 10, f"20 samples of class {wanted}, T = {view.temperature:.2f}, seed {view.seed}")
        if n_held:
            st.markdown(
                "**Classify by Bayes' rule.** A held-out image's bits/dim under each of the ten class densities: "
                "the lowest is p(y | x)'s argmax under a uniform prior, with no classifier trained."
            )
            c1, c2 = st.columns([1, 3])
            pick = c1.slider("Held-out image", 0, n_held - 1, 0, key="img-classify")
            with c1:
                _show(torch.as_tensor(heldout[pick : pick + 1]).float() / (model.config.n_levels - 1), 1)
            scores = class_bits_per_dim(model, heldout[pick : pick + 1], seed=0)[0]
            truth = _label_of(pick)
            c2.plotly_chart(class_scores_figure(scores, truth), key="img-class-scores")
            all_scores = class_bits_per_dim(model, heldout, seed=0)
            if heldout_labels is not None:
                hits = int((all_scores.argmin(1) == heldout_labels).sum())
                acc = card.get("bayes_accuracy_test")
                st.caption(
                    f"Bayes' rule labels {hits} of these {n_held} held-out images correctly"
                    + (f"; on the whole test split: {acc:.1%}" if isinstance(acc, float) else "")
                    + "."
                )

if n_held == 0:
    for tab in (tabs["Encode / decode"], tabs["Interpolate"], tabs["What each scale holds"]):
        tab.info("This flow ships no held-out images.")
else:
    k = model.config.n_levels
    with tabs["Encode / decode"]:
        st.write("Held-out test images (never seen in training):")
        _show(torch.as_tensor(heldout).float() / (k - 1), n_held)
        image = st.slider("Image", 0, n_held - 1, 0, key="img-image")
        result = round_trip(model, heldout[image : image + 1], seed=0, labels=_label_of(image))
        c1, c2, c3 = st.columns(3)
        c1.metric("Round-trip max |error|", f"{result['max_abs_error']:.1e}")
        c2.metric("Bits/dim of this image", f"{float(result['bpd'][0]):.3f}")
        c3.metric("Same levels after decode", "yes" if result["levels_equal"] else "no")
        pair = torch.cat([result["x"], result["x_rec"]])
        _show(pair, 2, "left: dequantised input x = (level + u)/K; right: decode(encode(x))")
        if n_classes:
            st.caption(f"Encoded and decoded with its own label ({_label_of(image)}).")
        error = (result["x_rec"] - result["x"]).abs()[0].amax(0).numpy()
        st.plotly_chart(heatmap_figure(error, "|decode(encode(x)) − x| per pixel", "abs error"), key="img-err")

    with tabs["Interpolate"]:
        c1, c2, c3 = st.columns(3)
        a = c1.slider("From image", 0, n_held - 1, 0, key="img-a")
        b = c2.slider("To image", 0, n_held - 1, min(1, n_held - 1), key="img-b")
        steps = c3.slider("Steps", 3, 12, 8, key="img-steps")
        xs = round_trip(model, heldout[[a, b]], seed=0, labels=None if not n_classes else heldout_labels[[a, b]])["x"]
        path = interpolate(model, xs[0], xs[1], steps, label=_label_of(a))
        note = f" (class-conditional: decoded as class {_label_of(a)})" if n_classes else ""
        _show(path, steps, "straight line between the two images' latents (all scales)" + note)

    with tabs["What each scale holds"]:
        shapes = model.config.latent_shapes()
        c1, c2 = st.columns(2)
        # start on the held-out image with the most structure (a flat sky patch redraws into more flat sky)
        st.session_state.setdefault("img-scale-image", most_structured(heldout))
        src = c1.slider("Image", 0, n_held - 1, key="img-scale-image")
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
        x0 = round_trip(model, heldout[src : src + 1], seed=0, labels=_label_of(src))["x"][0]
        variants = resample_scale(
            model, x0, scale, 15, view.temperature, torch.Generator().manual_seed(view.seed), label=_label_of(src)
        )
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

with tabs["Model card"]:
    facts = card_facts(card)
    st.markdown("\n".join(["| | |", "|---|---|"] + [f"| {k} | {markdown_cell(v)} |" for k, v in facts.items()]))
    if "baselines_test_bpd" in card:
        st.markdown(
            "**Baselines on the same test split:** "
            + ", ".join(f"{k}: {v}" for k, v in card["baselines_test_bpd"].items())
        )
    if "caveat" in card:
        st.info(card["caveat"])
    heading, rows = published_rows(card.get("dataset"))
    st.markdown(heading)
    if rows:
        st.markdown("\n".join(["| Data | Model | Test bits/dim |", "|---|---|---|", *rows]))
    with st.expander("Full model card (card.json)"):
        st.json(card, expanded=False)

if str(card.get("dataset", "")).startswith("mnist"):
    st.caption(f"MNIST attribution: {MNIST_ATTRIBUTION}")
elif card.get("license"):
    st.caption(f"Data: {card.get('data')} — {card.get('license')}")
