"""Unit tests for playground.views.layers (the layer-by-layer analysis) and playground.plots.layers (its figures).

The page draws what these functions return, so the checks are against the flow itself: the animation's key frames
are exactly ``forward``/``inverse``, per-layer log-dets add up to the flow's, and the likelihood breakdown adds up to
``log_prob`` in original units.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from playground.plots import layers as plots
from playground.views import layers
from realnvp import RealNVP
from realnvp.norm import BatchNormFlow

torch.set_num_threads(1)

CONFIGS = [
    dict(),
    dict(mask="parity", scale="softplus"),
    dict(mask="random", norm="actnorm"),
    dict(norm="batchnorm", scale="exp"),
    dict(coupling="additive"),
    dict(coupling="spline", mask="parity"),
]


def _random_flow(n_layers: int = 4, seed: int = 0, **config) -> RealNVP:
    """A flow that is far from the identity: every parameter and BatchNorm statistic perturbed (less for the
    unbounded ``exp`` scale, which would otherwise overflow float32 on purpose)."""
    flow = RealNVP(2, n_layers=n_layers, hidden_dims=(16, 16), seed=seed, **config)
    g = torch.Generator().manual_seed(seed + 1)
    size = 0.1 if config.get("scale") == "exp" else 0.3
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(size * torch.randn(p.shape, generator=g))
        for m in flow.modules():
            if isinstance(m, BatchNormFlow):
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return flow


@pytest.fixture(scope="module")
def trainer():
    return layers.quick_trainer("moons", steps=150, n_points=800)


@pytest.fixture(scope="module")
def points():
    return np.random.default_rng(0).normal(size=(300, 2))


# -- the animation is the flow ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(c.values()) or "default")
def test_animation_key_frames_are_exactly_the_trace_forward(config, points):
    flow = _random_flow(**config)
    anim = layers.animation_frames(flow, points, "forward", n_between=3)
    x = torch.as_tensor(points, dtype=torch.float32)
    flow.eval()
    with torch.no_grad():
        z, log_det = flow(x)
        trace = flow.trace(x)
    assert len(anim.states) == len(flow.layers) + 1
    assert np.array_equal(anim.states[-1], z.numpy())  # bit for bit: the page draws forward()
    for k, state in enumerate(trace.states):
        assert np.array_equal(anim.states[k], state.numpy())
        assert np.array_equal(anim.frames[anim.key_frames[k]], state.numpy())
    np.testing.assert_allclose(anim.log_dets.sum(axis=0), log_det.numpy(), atol=1e-5)
    assert anim.n_frames == len(flow.layers) * 4 + 1
    assert anim.latent_frame == anim.n_frames - 1


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(c.values()) or "default")
def test_animation_inverse_ends_at_inverse(config, points):
    flow = _random_flow(**config)
    anim = layers.animation_frames(flow, points, "inverse", n_between=2)
    flow.eval()
    with torch.no_grad():
        x, log_det = flow.inverse(torch.as_tensor(points, dtype=torch.float32))
    assert np.array_equal(anim.states[-1], x.numpy())
    assert np.array_equal(anim.frames[-1], x.numpy())
    np.testing.assert_allclose(anim.log_dets.sum(axis=0), log_det.numpy(), atol=1e-5)
    assert anim.latent_frame == 0
    assert anim.key_labels[0] == "latent z" and anim.key_labels[-1] == "data"


def test_in_between_frames_interpolate_linearly(points):
    flow = _random_flow()
    anim = layers.animation_frames(flow, points, "forward", n_between=3)
    a, b = anim.states[1], anim.states[2]
    mid = anim.frames[anim.key_frames[1] + 2]  # alpha = 2/4
    np.testing.assert_allclose(mid, 0.5 * a + 0.5 * b, atol=1e-6)


def test_grid_lines_are_carried_by_the_flow(points):
    flow = _random_flow()
    grid = layers.grid_lines((-2, 2, -2, 2), n_lines=5, n_per_line=11)
    anim = layers.animation_frames(flow, points, "forward", n_between=1, grid=grid)
    with torch.no_grad():
        z, _ = flow(torch.as_tensor(grid.reshape(-1, 2), dtype=torch.float32))
    assert anim.grid_states.shape == (len(flow.layers) + 1, 10, 11, 2)
    np.testing.assert_array_equal(anim.grid_states[-1].reshape(-1, 2), z.numpy())


def test_colour_is_the_starting_angle(points):
    anim = layers.animation_frames(_random_flow(), points, "inverse", n_between=0)
    np.testing.assert_allclose(anim.colour, np.arctan2(points[:, 1], points[:, 0]))


def test_evaluating_restores_mode_and_leaves_batchnorm_stats_alone(points):
    flow = _random_flow(norm="batchnorm")
    flow.train()
    before = {k: v.clone() for k, v in flow.named_buffers()}
    layers.animation_frames(flow, points, "forward")
    layers.round_trip_errors(flow, points)
    assert flow.training
    for k, v in flow.named_buffers():
        assert torch.equal(v, before[k]), k
    flow.eval()
    layers.mean_layer_log_dets(flow, points)
    assert not flow.training


# -- per-layer log-dets and what a layer does ------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(c.values()) or "default")
def test_mean_layer_log_dets_sum_to_the_flows(config, points):
    flow = _random_flow(**config).eval()
    means = layers.mean_layer_log_dets(flow, points)
    with torch.no_grad():
        _, log_det = flow(torch.as_tensor(points, dtype=torch.float32))
    assert means.shape == (len(flow.layers),)
    assert abs(means.sum() - float(log_det.double().mean())) < 1e-5


def test_scale_shift_curves_are_the_conditioner(points):
    flow = _random_flow()
    for k in (0, 1):
        curves = layers.layer_scale_shift_curves(flow, k, np.linspace(-2, 2, 17))
        layer = flow.layers[k]
        with torch.no_grad():
            s, t = layer.log_scale_shift(torch.linspace(-2, 2, 17)[:, None])
        np.testing.assert_allclose(curves.s, s.numpy(), atol=1e-6)
        np.testing.assert_allclose(curves.t, t.numpy(), atol=1e-6)
        assert curves.kept == ((0,) if k == 0 else (1,))
        assert curves.transformed == ((1,) if k == 0 else (0,))
    auto = layers.layer_scale_shift_curves(flow, 1, 50, points=points)
    inputs = layers.layer_inputs(flow, points, 1)
    np.testing.assert_allclose(auto.inputs, inputs[:, 1], atol=1e-6)
    assert auto.kept_values.min() < inputs[:, 1].min() and auto.kept_values.max() > inputs[:, 1].max()


def test_spline_curves_are_the_layer_and_the_breakdown_uses_its_slope(points):
    flow = _random_flow(coupling="spline")
    for k in (0, 1):
        curves = layers.layer_spline_curves(flow, k, points=points, n_curves=4, resolution=31)
        kept, moved = curves.kept[0], curves.transformed[0]
        assert (kept, moved) == ((0, 1) if k == 0 else (1, 0))
        # each curve is what the layer does to points (c, x) entering it: the flow's own trace of that layer
        state = np.zeros((4 * 31, 2))
        state[:, kept] = np.repeat(curves.kept_values, 31)
        state[:, moved] = np.tile(curves.moved_values, 4)
        with torch.no_grad():
            out = flow.eval().trace(torch.as_tensor(state, dtype=torch.float32), start=k, stop=k + 1).states[-1]
        np.testing.assert_allclose(curves.outputs.ravel(), out[:, moved].numpy(), atol=1e-6)
        beyond = np.abs(curves.moved_values) > curves.tail_bound
        unchanged = np.tile(curves.moved_values[beyond].astype(np.float32), (4, 1))  # identity beyond the bound
        assert np.array_equal(curves.outputs[:, beyond], unchanged)
        assert not np.allclose(curves.outputs, curves.moved_values, atol=1e-3)  # the perturbed spline bends
        inputs = layers.layer_inputs(flow, points, k)
        np.testing.assert_allclose(curves.inputs, inputs[:, moved], atol=1e-6)
    with pytest.raises(ValueError, match="spline"):
        layers.layer_scale_shift_curves(flow, 0, 10)
    with pytest.raises(ValueError, match="not a spline"):
        layers.layer_spline_curves(_random_flow(), 0)
    breakdown = layers.likelihood_breakdown(flow, None, [0.3, -0.4])
    for step in breakdown.steps:  # a spline's "s" is its log-slope at the point: it sums to the layer's log-det
        assert step.t is None and abs(float(step.s.sum()) - step.log_det) < 1e-5


def test_scale_shift_curves_refuse_non_couplings():
    flow = _random_flow(norm="actnorm")
    with pytest.raises(ValueError, match="not a coupling"):
        layers.layer_scale_shift_curves(flow, 1, 10)
    with pytest.raises(ValueError, match="one coordinate"):
        layers.layer_scale_shift_curves(RealNVP(4, n_layers=2), 0, 10)
    with pytest.raises(ValueError, match="layer_index"):
        layers.layer_scale_shift_curves(flow, 99, 10)


@pytest.mark.parametrize("config", CONFIGS[:3], ids=lambda c: "-".join(c.values()) or "default")
def test_log_det_grid_matches_the_trace(config):
    flow = _random_flow(**config).eval()
    k = len(flow.layers) - 1
    grid = layers.layer_log_det_grid(flow, k, (-2, 2, -1, 1), resolution=7, space="data")
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float32)
    with torch.no_grad():
        trace = flow.trace(pts)
    np.testing.assert_allclose(grid.log_det.ravel(), trace.log_dets[k].numpy(), atol=1e-6)
    first_data = layers.layer_log_det_grid(flow, 0, resolution=5, space="data").log_det
    first_input = layers.layer_log_det_grid(flow, 0, resolution=5, space="input").log_det
    np.testing.assert_array_equal(first_data, first_input)


def test_describe_layers_names_kept_and_moved_coordinates():
    infos = layers.describe_layers(RealNVP(2, n_layers=2, mask="random", norm="actnorm"))
    assert [i.kind for i in infos] == ["Permute", "AffineCoupling", "ActNorm"] * 2
    assert infos[1].is_coupling and infos[1].kept == (0,) and infos[1].transformed == (1,)
    assert infos[4].kept == (1,) and infos[4].transformed == (0,)
    assert not infos[2].is_coupling and "rescales" in infos[2].label


# -- the likelihood breakdown ----------------------------------------------------------------------------------------
def test_breakdown_adds_up_to_log_prob_in_original_units(trainer):
    x0, x1, y0, y1 = trainer.view_bounds()
    points = np.concatenate([trainer.train_points[:30], [[(x0 + x1) / 2, (y0 + y1) / 2], [0.5, 0.25]]])
    expected = trainer.log_prob(points)
    for point, lp in zip(points, expected, strict=True):
        b = layers.likelihood_breakdown(trainer.model, trainer.standardizer, point)
        assert abs(b.total - lp) < 1e-5, (point, b.total, lp)
        assert abs(sum(v for _, v in b.terms()) - b.total) < 1e-12
        assert abs(b.model_log_prob - lp) < 1e-5
        assert b.standardizer_log_det == pytest.approx(trainer.standardizer.log_abs_det)
    assert trainer.model.training  # the trainer's model is handed back in training mode


def test_breakdown_far_from_the_data_agrees_to_float32_precision(trainer):
    # log p is then in the thousands or millions, and float32 rounding along the path amplifies: it even depends
    # on the batch a point is evaluated in (MKL sums in another order), by up to ~3e-5 relative for some trained
    # flows at the window's corners. So the reference is the trainer's log p of the same single point: the
    # breakdown's terms must add up to it to float32 precision.
    x0, x1, y0, y1 = trainer.view_bounds()
    far = np.array([[3.0, -2.0], [-10.0, 7.5], [x0, y0], [x1, y1], [x0, y1]])
    for point in far:
        lp = trainer.log_prob(point[None])[0]
        b = layers.likelihood_breakdown(trainer.model, trainer.standardizer, point)
        assert abs(b.total - lp) <= 1e-5 * abs(lp), (point, b.total, lp)


def test_breakdown_follows_the_coupling_formula(trainer):
    b = layers.likelihood_breakdown(trainer.model, trainer.standardizer, trainer.train_points[3])
    np.testing.assert_allclose(b.x, trainer.standardizer.transform(trainer.train_points[3:4])[0], atol=1e-6)
    np.testing.assert_allclose(b.steps[0].before, b.x)
    np.testing.assert_allclose(b.steps[-1].after, b.z)
    for step in b.steps:
        (i,), (j,) = step.kept, step.transformed
        assert step.after[i] == step.before[i]  # the kept coordinate passes through untouched
        np.testing.assert_allclose(step.after[j], step.before[j] * np.exp(step.s[0]) + step.t[0], atol=1e-5)
        np.testing.assert_allclose((step.after[j] - step.t[0]) * np.exp(-step.s[0]), step.before[j], atol=1e-5)
        assert step.log_det == pytest.approx(float(step.s.sum()), abs=1e-6)
    assert b.log_base == pytest.approx(-0.5 * (b.z @ b.z) - np.log(2 * np.pi), abs=1e-6)
    rows = b.rows()
    assert rows[0]["stage"] == "x (data units)" and rows[-1]["running sum"] == pytest.approx(b.total)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(c.values()) or "default")
def test_breakdown_without_standardizer_is_model_log_prob(config):
    flow = _random_flow(**config)
    point = np.array([0.7, -1.3])
    b = layers.likelihood_breakdown(flow, None, point)
    flow.eval()
    with torch.no_grad():
        lp = float(flow.log_prob(torch.tensor(point[None], dtype=torch.float32))[0])
    assert abs(b.total - lp) < 1e-5
    assert b.standardizer_log_det == 0.0
    assert len(b.steps) == len(flow.layers)


def test_breakdown_rejects_bad_points():
    with pytest.raises(ValueError, match="finite"):
        layers.likelihood_breakdown(RealNVP(2, n_layers=1), None, [np.nan, 0.0])
    with pytest.raises(ValueError, match="2 finite numbers"):
        layers.likelihood_breakdown(RealNVP(2, n_layers=1), None, [1.0, 2.0, 3.0])


# -- invertibility, latents, density ---------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(c.values()) or "default")
def test_round_trip_is_exact_to_float_precision(config, points):
    flow = _random_flow(**config)
    err = layers.round_trip_errors(flow, points)
    assert err.flow < 1e-4 and err.per_layer.max() < 1e-4
    assert err.per_layer.shape == (len(flow.layers),)
    assert err.n_points == len(points) and err.n_nonfinite == 0
    # unbounded exp scales overflow far out by design (see test_round_trip_counts_overflow): data points only
    if config.get("scale") != "exp":
        far = layers.round_trip_errors(flow, layers.far_grid(20.0, n=11))
        assert np.isfinite(far.relative)


def test_round_trip_counts_overflow():
    flow = _random_flow(scale="exp")
    with torch.no_grad():
        flow.layers[0].net[-1].bias.fill_(60.0)  # exp(60) overflows float32 after a few layers
    err = layers.round_trip_errors(flow, layers.far_grid(1e30, n=3))
    assert err.n_nonfinite > 0 and err.flow == np.inf


def test_latent_diagnostics_of_a_gaussian():
    z = np.random.default_rng(1).normal(size=(4000, 2))
    diag = layers.latent_diagnostics(RealNVP(2, n_layers=2), z)  # a fresh flow is the identity
    np.testing.assert_allclose(diag.mean, 0.0, atol=0.05)
    np.testing.assert_allclose(diag.var, 1.0, atol=0.06)
    assert diag.ks_pvalue.min() > 0.01
    np.testing.assert_allclose(diag.inside, diag.expected, atol=0.03)
    skewed = layers.latent_diagnostics(RealNVP(2, n_layers=2), z**2)
    assert skewed.ks_pvalue.max() < 1e-6 and skewed.ks_statistic.min() > 0.2
    assert [r["dimension"] for r in diag.rows()] == ["z₁", "z₂"]
    overflowed = layers.latent_diagnostics(RealNVP(2, n_layers=1), np.full((5, 2), np.inf))
    assert np.isnan(overflowed.mean).all() and np.isnan(overflowed.ks_pvalue).all()


def test_density_grid_mass_and_holes():
    flow = RealNVP(2, n_layers=2)  # N(0, I)
    full = layers.density_grid(flow, None, (-6, 6, -6, 6), resolution=120)
    assert abs(full.mass - 1.0) < 1e-3
    half = layers.density_grid(flow, None, (0, 6, -6, 6), resolution=100)
    assert abs(half.mass - 0.5) < 2e-3
    rng = np.random.default_rng(0)
    gaussian = rng.normal(size=(2000, 2))
    fitted = layers.density_grid(flow, None, (-4, 4, -4, 4), resolution=80, data=gaussian)
    assert fitted.hole_mass < 0.02
    rings = np.concatenate([gaussian[:1000] * 0.2 + [2.5, 0], gaussian[1000:] * 0.2 - [2.5, 0]])
    holey = layers.density_grid(flow, None, (-4, 4, -4, 4), resolution=80, data=rings)
    assert holey.hole_mass > 0.5  # N(0, I) puts its bulk between the two clusters, where there is no data
    assert holey.holes[40, 40] and not holey.holes[40, 65]


def test_density_grid_in_original_units(trainer):
    bounds = trainer.view_bounds()
    grid = layers.density_grid(trainer.model, trainer.standardizer, bounds, resolution=20)
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    expected = trainer.log_prob(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(20, 20)
    np.testing.assert_allclose(grid.log_p, expected, atol=1e-5)
    assert 0.5 < grid.mass < 1.05


def test_helpers():
    pts = np.arange(20.0).reshape(10, 2)
    assert np.array_equal(layers.subsample(pts, 50), pts)
    sub = layers.subsample(torch.as_tensor(pts), 4, seed=3)
    assert sub.shape == (4, 2) and np.array_equal(sub, layers.subsample(pts, 4, seed=3))
    assert np.array_equal(layers.latent_samples(5, seed=2), layers.latent_samples(5, seed=2))
    x0, x1, y0, y1 = layers.square_bounds(pts)
    assert x1 - x0 == pytest.approx(y1 - y0)
    with pytest.raises(ValueError, match="direction"):
        layers.animation_frames(RealNVP(2, n_layers=1), pts, "sideways")
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        layers.animation_frames(RealNVP(2, n_layers=1), np.zeros((3, 3)))


# -- figures ---------------------------------------------------------------------------------------------------------
def test_animation_figure_structure():
    flow = _random_flow(n_layers=8)
    pts = np.random.default_rng(0).normal(size=(2000, 2))
    anim = layers.animation_frames(flow, pts, "forward", n_between=4)
    plots.build_animation_figure(anim)  # warm-up (plotly's validators load lazily)
    fig = plots.build_animation_figure(anim)  # its build time is measured by bench/layers_figure.py, not here
    assert len(fig.frames) == 8 * 5 + 1
    assert [t.type for t in fig.data] == ["scattergl"] * 3
    play = fig.layout.updatemenus[0]
    assert play.bgcolor and play.font.color and play.buttons[0].label.endswith("Play")
    assert len(fig.layout.sliders[0].steps) == 9
    # the latent circles show in the latent frame only
    assert np.isfinite(np.asarray(fig.frames[-1].data[2].x, dtype=float)).sum() > 100
    assert not np.isfinite(np.asarray(fig.frames[0].data[2].x, dtype=float)).any()
    np.testing.assert_array_equal(np.asarray(fig.frames[-1].data[1].x), anim.states[-1][:, 0])


def test_all_figures_build(trainer):
    model, std = trainer.model, trainer.standardizer
    data = layers.subsample(trainer.x_train, 300)
    figs = [
        plots.scale_shift_figure(layers.layer_scale_shift_curves(model, 2, 50, points=data)),
        plots.log_det_heatmap_figure(layers.layer_log_det_grid(model, 2, resolution=10), data),
        plots.layer_log_det_bar_figure(layers.mean_layer_log_dets(model, data), list("12345678"), selected=2),
        plots.latent_figure(layers.latent_diagnostics(model, data)),
        plots.round_trip_figure(list("12345678"), np.zeros(8), np.full(8, 1e-6)),
    ]
    b = layers.likelihood_breakdown(model, std, trainer.train_points[0])
    figs += [plots.breakdown_waterfall_figure(b), plots.point_path_figure(b)]
    density = layers.density_grid(model, std, trainer.view_bounds(), 30, data=trainer.train_points[:300])
    figs += [plots.pick_figure(density, trainer.train_points[:300], selected=b.point), plots.holes_figure(density)]
    for fig in figs:
        assert isinstance(fig, go.Figure) and fig.layout.uirevision
    waterfall = figs[5].data[0]
    assert waterfall.y[-1] == pytest.approx(b.total) and sum(waterfall.y[:-1]) == pytest.approx(b.total)


# -- shipped flows, the two-way animation, the window that follows the points ----------------------------------------
def test_shipped_flows_have_their_presets_architecture():
    from playground.settings import PRESETS

    flows = layers.pretrained_flows()
    assert {"moons", "spirals", "checkerboard", "8gaussians"} <= set(flows)
    for name in flows:
        trainer = layers.load_pretrained(name)
        preset = PRESETS[trainer.card["preset"]].settings
        assert trainer.name == preset.dataset and trainer.card["data"]["noise"] == preset.noise
        want, got = preset.flow_config(), trainer.model.config
        assert (got.n_layers, got.hidden_dims, got.coupling, got.scale, got.mask, got.norm) == (
            want.n_layers,
            want.hidden_dims,
            want.coupling,
            want.scale,
            want.mask,
            want.norm,
        ), f"{name}: retrain it with python assets/flows2d/make.py --only {name}"
        assert trainer.step_count == trainer.card["steps"]
        assert trainer.history.heldout_nll[-1] == pytest.approx(trainer.card["heldout_nll"], abs=2e-5)


def test_load_pretrained_says_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="no shipped flow 'nope'; shipped: moons"):
        layers.load_pretrained("nope")
    folder = tmp_path / "moons"
    folder.mkdir()
    for f in ("model.safetensors", "config.json"):
        (folder / f).write_bytes((layers.PRETRAINED_DIR / "moons" / f).read_bytes())
    card = json.loads((layers.PRETRAINED_DIR / "moons" / "card.json").read_text())
    card["data"]["seed"] = 7  # other data than it was trained on
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="not the data the flow was trained on"):
        layers.load_pretrained("moons", tmp_path)
    (folder / "card.json").write_text("{}")
    with pytest.raises(ValueError, match="does not describe the flow's data"):
        layers.load_pretrained("moons", tmp_path)


def test_two_way_animation_switches_direction_in_the_figure():
    flow = _random_flow(n_layers=4)
    x = np.random.default_rng(0).normal(size=(300, 2))
    fwd = layers.animation_frames(flow, x, "forward", n_between=2)
    inv = layers.animation_frames(flow, layers.latent_samples(300, seed=0), "inverse", n_between=2)
    fig = plots.build_animation_figure(fwd, other=inv)
    names = [f.name for f in fig.frames]
    assert names == [f"forward:{f}" for f in range(13)] + [f"inverse:{f}" for f in range(13)]
    play_fwd, play_inv, switch = fig.layout.updatemenus
    assert play_fwd.visible and not play_inv.visible
    assert play_fwd.buttons[0].args[0] == "forward" and play_inv.buttons[0].args[0] == "inverse"  # frame groups
    assert [f.group for f in fig.frames] == ["forward"] * 13 + ["inverse"] * 13
    assert [list(b.args[0]) for b in switch.buttons] == [["forward:0"], ["inverse:0"]]
    assert fig.layout.sliders[0].visible and not fig.layout.sliders[1].visible
    assert [list(s.args[0]) for s in fig.layout.sliders[1].steps] == [[f"inverse:{k}"] for k in inv.key_frames]
    entering = fig.frames[13]  # the inverse direction's first frame shows its own controls and colours
    assert [s.visible for s in entering.layout.sliders] == [False, True]
    assert [m.visible for m in entering.layout.updatemenus[:2]] == [False, True]
    np.testing.assert_allclose(np.asarray(entering.data[1].marker.color), inv.colour.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(entering.data[1].x), inv.states[0][:, 0])
    np.testing.assert_array_equal(np.asarray(fig.frames[-1].data[1].x), inv.states[-1][:, 0])
    assert fig.frames[12].layout.title.text == "data → latent · latent z"
    assert fig.frames[13].layout.title.text == "latent → data · latent z"


def test_animation_window_follows_the_points():
    flow = _random_flow(n_layers=4)
    x = np.random.default_rng(0).normal(size=(500, 2)) * 0.3 + 5.0  # a small cloud far from the origin
    anim = layers.animation_frames(flow, x, "forward", n_between=3)
    follow, fixed = layers.animation_bounds(anim), layers.animation_bounds(anim, follow=False)
    assert follow.shape == fixed.shape == (anim.n_frames, 4)
    for k, f in enumerate(anim.key_frames):  # each layer's robust window holds its points, tightly
        x0, x1, y0, y1 = follow[f]
        assert x1 - x0 == pytest.approx(y1 - y0)
        lo, hi = np.quantile(anim.states[k], [0.01, 0.99], axis=0)
        assert x0 <= lo[0] and hi[0] <= x1 and y0 <= lo[1] and hi[1] <= y1
        if f != anim.latent_frame:
            assert max(hi - lo) >= 0.8 * (x1 - x0) / 1.1 - 1e-9  # the points span most of the window
    assert follow[anim.latent_frame][1] >= 3.2  # the latent frame shows the 3σ circle whole
    np.testing.assert_allclose(follow[1], (3 * follow[0] + follow[anim.key_frames[1]]) / 4)  # blended in between
    assert (fixed == fixed[0]).all() and fixed[0][1] - fixed[0][0] > follow[0][1] - follow[0][0]
    fig = plots.build_animation_figure(anim)
    assert list(fig.layout.xaxis.range) == pytest.approx(follow[0][:2])
    assert list(fig.frames[5].layout.yaxis.range) == pytest.approx(follow[5][2:])


def test_figures_use_the_playgrounds_type():
    from playground.plots.live import FONT_FAMILY

    fig = plots.build_animation_figure(layers.animation_frames(_random_flow(2), np.zeros((10, 2)), n_between=1))
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.tickfont.size == 16 and axis.tickfont.family == FONT_FAMILY
        assert axis.tickfont.color == plots.TEXT_COLOR
    grid = layers.layer_log_det_grid(_random_flow(2), 0, resolution=5)
    heat = plots.log_det_heatmap_figure(grid)
    assert heat.data[0].colorbar.tickfont.size == 16
    plots.talk_style(heat)
    assert heat.layout.xaxis.tickfont.size == plots.TALK_SIZES["font"] > 16
    assert heat.data[0].colorbar.tickfont.size == plots.TALK_SIZES["font"]
