"""No hidden global random state: every draw goes through an explicit ``torch.Generator``.

Streamlit sessions are threads of one process, so a flow built while another session builds one must still get
exactly the weights of its own seed, and building, training or sampling must never read, seed or advance torch's
process-wide generator (nor touch CUDA's state on a CPU run).
"""

import itertools
import threading

import pytest
import torch

from realnvp import FlowConfig, RealNVP
from realnvp.image import ImageFlowConfig, ImageRealNVP, ResNetConditioner
from realnvp.training import OptimConfig, Trainer

TINY_IMAGE = dict(channels=1, height=4, width=4, n_levels=17, n_scales=2, n_checker=1, n_channel=1, n_final=1, hidden=4)


def vector_flow(seed: int) -> RealNVP:
    return RealNVP(4, n_layers=4, hidden_dims=(16, 16), mask="random", norm="actnorm", seed=seed)


def image_flow(seed: int, perturbed: bool = False) -> ImageRealNVP:
    flow = ImageRealNVP(ImageFlowConfig(**TINY_IMAGE, dequant="variational", dropout=0.2), seed=seed)
    if perturbed:  # zero-initialised output convs would hide what happens inside the conditioners
        g = torch.Generator().manual_seed(100 + seed)
        with torch.no_grad():
            for m in flow.modules():
                if isinstance(m, ResNetConditioner):
                    m.out.weight.copy_(0.3 * torch.randn(m.out.weight.shape, generator=g))
    return flow


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def no_global_seeding(monkeypatch):
    """Seeding torch's global generator (CPU or CUDA) anywhere inside the test raises."""

    import torch._dynamo  # noqa: F401 - imported unpatched: it records torch's functions when first imported

    def refuser(name: str):
        def refuse(*args, **kwargs):
            raise AssertionError(f"{name} was called: torch's process-wide generator was seeded")

        return refuse

    for module, names in (
        (torch, ("manual_seed", "seed")),
        (torch.random, ("manual_seed", "seed")),
        (torch.cuda, ("manual_seed", "manual_seed_all", "seed", "seed_all")),
    ):
        for name in names:
            monkeypatch.setattr(module, name, refuser(f"{module.__name__}.{name}"))
    state = torch.random.get_rng_state()
    yield
    assert torch.equal(torch.random.get_rng_state(), state), "torch's process-wide generator was advanced"
    assert not torch.cuda.is_initialized()


def build_concurrently(build, seeds: list[int]) -> dict[int, dict[str, torch.Tensor]]:
    """Build one flow per seed, each on its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(seeds))
    got: dict[int, dict[str, torch.Tensor]] = {}
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            barrier.wait()
            got[seed] = weights(build(seed))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return got


@pytest.mark.parametrize("build", [vector_flow, image_flow], ids=["vector", "image"])
def test_flows_built_on_eight_threads_at_once_get_their_own_seeds_weights(build):
    seeds = list(range(8))
    expected = {seed: weights(build(seed)) for seed in seeds}
    assert not same(expected[0], expected[1]), "different seeds should give different weights"
    for _ in range(3):  # several rounds
        got = build_concurrently(build, seeds)
        for seed in seeds:
            assert same(got[seed], expected[seed]), f"seed {seed} got another seed's weights"


@pytest.mark.parametrize(
    "coupling,mask,norm", itertools.product(["affine", "additive"], ["alternate", "random"], ["none", "batchnorm"])
)
def test_building_a_flow_leaves_the_global_generator_alone(coupling, mask, norm, no_global_seeding):
    a = RealNVP(4, 3, (8,), coupling=coupling, mask=mask, norm=norm, seed=11)
    b = RealNVP(4, 3, (8,), coupling=coupling, mask=mask, norm=norm, seed=11)
    assert same(weights(a), weights(b))
    assert not same(weights(a), weights(RealNVP(4, 3, (8,), coupling=coupling, mask=mask, norm=norm, seed=12)))


def test_hidden_layers_get_pytorchs_default_initialisation_bounds():
    flow = RealNVP(2, 2, (64, 32), seed=0)
    first, second, last = (m for m in flow.layers[0].net if isinstance(m, torch.nn.Linear))
    for lin in (first, second):
        bound = 1 / lin.in_features**0.5
        assert lin.weight.abs().max() <= bound and lin.bias.abs().max() <= bound
        assert lin.weight.abs().max() > 0.8 * bound  # drawn over the whole range, not a narrower one
    assert torch.count_nonzero(last.weight) == 0 and torch.count_nonzero(last.bias) == 0  # the flow starts as identity


def test_training_sampling_and_evaluating_leave_the_global_generator_alone(no_global_seeding):
    for flow in (FlowConfig(n_layers=2, hidden_dims=(8,)), FlowConfig(n_layers=2, hidden_dims=(8,), norm="actnorm")):
        trainer = Trainer.for_dataset(
            "moons", n_points=300, flow=flow, optim=OptimConfig(batch_size=64), heldout_points=50
        )
        trainer.step(60)
        trainer.evaluate()
        assert trainer.sample(5, seed=1).shape == (5, 2)
        assert trainer.sample(5).shape == (5, 2)  # unseeded: a fresh generator, not the global one


def test_unseeded_samples_differ_and_seeded_ones_repeat(no_global_seeding):
    flow = RealNVP(2, 2, (8,), seed=0)
    assert not torch.equal(flow.sample(20), flow.sample(20))
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert torch.equal(flow.sample(20, generator=g1), flow.sample(20, generator=g2))


def test_image_flow_noise_and_dropout_come_from_the_given_generators(no_global_seeding):
    levels = torch.randint(0, 17, (6, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    runs = []
    for _ in range(2):
        flow = image_flow(3, perturbed=True).train()
        flow.set_dropout_generator(torch.Generator().manual_seed(9))
        runs.append(flow.bits_per_dim(levels, torch.Generator().manual_seed(5)))
    assert torch.equal(runs[0], runs[1])
    flow = image_flow(3, perturbed=True).train()
    flow.set_dropout_generator(torch.Generator().manual_seed(10))  # other dropout masks, same noise
    assert not torch.equal(flow.bits_per_dim(levels, torch.Generator().manual_seed(5)), runs[0])
    # unseeded draws use fresh generators
    assert flow.sample(2).shape == (2, 1, 4, 4)
    uniform = ImageRealNVP(ImageFlowConfig(**TINY_IMAGE), seed=0)
    assert not torch.equal(uniform.dequantize(levels)[0], uniform.dequantize(levels)[0])


def test_image_training_cli_never_seeds_the_global_generator(tmp_path, no_global_seeding):
    from realnvp.image.cli import main

    tiny = ["--hidden", "4", "--checker", "1", "--channel", "1", "--final", "1", "--batch-size", "8", "--threads", "1"]
    args = ["train-image", "--data", "digits", "--out", str(tmp_path / "run"), "--steps", "2", "--eval-every", "2"]
    assert main([*args, *tiny, "--dropout", "0.1", "--ema", "0"]) == 0
