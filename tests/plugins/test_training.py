"""The train evaluator's training: options, augmentation, schedules, data sources, compile,
and final training of a chosen architecture (`automl-codegen train`, `result.retrain`)."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import os
import pickle
import shutil
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from automl_codegen import ConfigError, NeuralArchitectureSearch
from automl_codegen.cli import main
from automl_codegen.errors import RunDirectoryError
from automl_codegen.evaluation import Dataset, EvaluationContext, TrainingBudget
from automl_codegen.search import SearchResult
from automl_codegen.testing import tiny_architecture
from automl_codegen_plugins.datasets.cifar import load_cifar10
from automl_codegen_plugins.datasets.digits import load_digits
from automl_codegen_plugins.datasets.synthetic import load_synthetic
from automl_codegen_plugins.evaluators import _training
from automl_codegen_plugins.evaluators._augment import crop_flip, draw, padding_for
from automl_codegen_plugins.evaluators._schedule import learning_rate
from automl_codegen_plugins.evaluators._training import CompileFailedError, Trainer, resolve
from automl_codegen_plugins.evaluators.train import TrainEvaluator
from automl_codegen_plugins.torch_model import build_model

SYNTHETIC = {"num_samples": 120, "num_classes": 3}


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load_synthetic(seed=0, **SYNTHETIC)


def start(dataset: Dataset, epochs: int = 2, *, seed: int = 0, final: bool = False, **options):
    """A TrainingRun of the tiny network on ``dataset``."""
    torch.manual_seed(seed)
    model = build_model(tiny_architecture(dataset.input_shape, dataset.num_classes))
    ctx = EvaluationContext(dataset=dataset, budget=TrainingBudget(epochs=epochs), seed=seed, final=final)
    return Trainer(**options).start(model, dataset, ctx)


# -- augmentation --------------------------------------------------------------------------------


def crop_flip_one_by_one(x, shifts, flips, padding):
    """The augmentation written the obvious way, one image at a time, for comparison."""
    h, w = x.shape[-2:]
    out = []
    for image, (top, left), flip in zip(x, shifts.tolist(), flips.tolist(), strict=True):
        crop = F.pad(image, (padding,) * 4)[:, top : top + h, left : left + w]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


def test_crop_flip_matches_cropping_and_flipping_each_image():
    x = torch.randn(64, 3, 32, 32)
    shifts, flips = draw(64, 4, torch.Generator().manual_seed(0))
    out = crop_flip(x, shifts, flips, 4)
    assert out.shape == x.shape
    assert torch.equal(out, crop_flip_one_by_one(x, shifts, flips, 4))
    # The draw covers every offset and both directions.
    assert set(shifts.flatten().tolist()) == set(range(9))
    assert 0 < int(flips.sum()) < 64


def test_crop_flip_moves_and_mirrors_pixels():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    # Centre offset, no flip: unchanged. Centre offset, flip: mirrored.
    same = crop_flip(x, torch.tensor([[1, 1], [1, 1]]), torch.tensor([False, True]), 1)
    assert torch.equal(same[0], x[0])
    assert torch.equal(same[1], x[1].flip(-1))
    # Offset (0, 0): the image moves one pixel down and right, zeros come in at the top and left.
    moved = crop_flip(x, torch.tensor([[0, 0], [2, 2]]), torch.tensor([False, False]), 1)
    assert torch.equal(moved[0, 0, 1:, 1:], x[0, 0, :-1, :-1])
    assert moved[0, 0, 0].abs().sum() == 0
    assert moved[0, 0, :, 0].abs().sum() == 0
    assert torch.equal(moved[1, 0, :-1, :-1], x[1, 0, 1:, 1:])


def test_augmentation_is_seeded_and_changes_images():
    x = torch.randn(32, 3, 32, 32)
    a = crop_flip(x, *draw(32, 4, torch.Generator().manual_seed(1)), 4)
    b = crop_flip(x, *draw(32, 4, torch.Generator().manual_seed(1)), 4)
    c = crop_flip(x, *draw(32, 4, torch.Generator().manual_seed(2)), 4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    changed = (a != x).flatten(1).any(1)
    assert changed.float().mean() > 0.9  # only a centred, unflipped crop (1 in 162) leaves an image as it was


def test_padding_follows_the_image_size():
    assert [padding_for(s, s) for s in (8, 28, 32, 64)] == [1, 4, 4, 8]


def test_augmentation_in_training_is_seeded_and_on_for_cifar_only(tmp_path):
    colour = load_synthetic(seed=0, channels=3, image_size=8, **SYNTHETIC)
    runs = [start(colour, 1, augment=True) for _ in range(2)]
    assert runs[0].train_epoch(0) == runs[1].train_epoch(0)
    plain = start(colour, 1, augment=False)
    assert plain.train_epoch(0) != runs[0].train_epoch(0)
    assert runs[0].settings.augment_padding == 1

    assert load_digits().augment is False
    assert load_synthetic(seed=0).augment is False
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": [i % 10 for i in range(20)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    cifar = load_cifar10(root=tmp_path)
    assert cifar.augment is True
    assert cifar.summary()["augment"] is True  # recorded in the run's configuration
    settings = resolve(TrainEvaluator().training_options, cifar, "cpu", 10)
    assert (settings.augment, settings.augment_padding) == (True, 4)
    assert resolve(TrainEvaluator(augment=False).training_options, cifar, "cpu", 10).augment is False


# -- schedules and optimizers ----------------------------------------------------------------------


def test_cosine_without_warmup_gives_torchs_cosine_annealing_rates():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.001)
    expected = []
    for _ in range(8):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    ours = [learning_rate(e, epochs=7, peak=0.1, minimum=0.001) for e in range(8)]
    assert ours == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_warmup_ramps_linearly_then_the_schedule_follows():
    rates = [learning_rate(e, epochs=10, peak=0.2, warmup=3) for e in range(11)]
    assert rates[:4] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert rates[-1] == 0.0
    assert all(a > b for a, b in itertools.pairwise(rates[3:]))
    assert [learning_rate(e, epochs=4, peak=0.2, schedule="constant", warmup=1) for e in range(4)] == [0.1] + [0.2] * 3
    # Warm-up longer than the training is cut so the last epoch still reaches the peak.
    assert learning_rate(1, epochs=2, peak=0.2, warmup=5) == 0.2


def test_sgd_with_cosine_reaches_the_end_of_its_schedule(data):
    run = start(data, 4, optimizer="sgd", lr=0.08, lr_min=0.002, schedule="cosine")
    (group,) = run.optimizer.param_groups
    assert isinstance(run.optimizer, torch.optim.SGD)
    assert (group["momentum"], group["nesterov"]) == (0.9, True)
    metrics = run.fit(data, TrainingBudget(epochs=4, patience=None))
    assert metrics["epochs"] == 4
    assert run.lrs == pytest.approx([0.002 + 0.078 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)])
    assert group["lr"] == run.lrs[-1]  # the last epoch trained at the schedule's last rate
    assert run.lr_at(4) == pytest.approx(0.002)  # where the schedule ends
    assert (metrics["training"]["optimizer"], metrics["training"]["lr"]) == ("sgd", 0.08)


def test_default_training_is_adamw_with_cosine(data):
    run = start(data, 3)
    assert isinstance(run.optimizer, torch.optim.AdamW)
    assert (run.settings.lr, run.settings.schedule) == (3e-3, "cosine")
    assert resolve(TrainEvaluator(optimizer="sgd").training_options, data, "cpu", 3).lr == 0.05


# -- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"optimizer": "adam"}, "train evaluator: optimizer must be one of 'adamw', 'sgd'; got 'adam'"),
        ({"schedule": "step"}, "train evaluator: schedule must be one of 'cosine', 'constant'; got 'step'"),
        ({"amp": "fp8"}, "train evaluator: amp must be one of 'auto', 'off', 'bf16', 'fp16'; got 'fp8'"),
        ({"data": "disk"}, "train evaluator: data must be one of 'auto', 'device', 'loader'; got 'disk'"),
        (
            {"augment": "yes"},
            "train evaluator: augment must be true, false or null (the default for the data and device), got 'yes'",
        ),
        ({"compile": 1}, "train evaluator: compile must be true or false, got 1"),
        ({"batch_size": 1}, "train evaluator: batch_size must be a whole number >= 2, got 1"),
        ({"warmup_epochs": 1.5}, "train evaluator: warmup_epochs must be a whole number >= 0, got 1.5"),
        ({"lr": 0}, "train evaluator: lr must be a number in (0, inf), got 0"),
        ({"label_smoothing": 1.0}, "train evaluator: label_smoothing must be a number in [0, 1), got 1.0"),
        ({"momentum": -0.1}, "train evaluator: momentum must be a number in [0, 1), got -0.1"),
        ({"lr_min": 0.01}, "train evaluator: lr_min (0.01) must be below lr (0.003)"),
        (
            {"optimiser": "sgd"},
            "train evaluator has no option(s) ['optimiser']; allowed: ['amp', 'augment', 'batch_size', "
            "'channels_last', 'compile', 'data', 'label_smoothing', 'lr', 'lr_min', 'momentum', 'optimizer', "
            "'schedule', 'threads', 'warmup_epochs', 'weight_decay', 'workers']",
        ),
    ],
)
def test_bad_options_are_refused_before_any_training(options, message):
    with pytest.raises(ConfigError) as info:
        NeuralArchitectureSearch(dataset="synthetic", evaluator_options=options, progress=False)
    assert str(info.value) == message


def test_amp_on_cpu_is_refused_and_auto_means_off(data):
    with pytest.raises(ConfigError) as info:
        start(data, amp="bf16")
    assert str(info.value) == (
        "train evaluator: amp='bf16' needs a CUDA device, but this run trains on 'cpu'; "
        "leave amp at 'auto' (on for CUDA, off elsewhere) or set amp='off'"
    )
    settings = start(data, amp=True).settings  # true means "auto"
    assert (settings.amp, settings.channels_last, settings.data) == ("off", False, "device")


def test_a_search_records_the_settings_each_trial_used(tmp_path):
    result = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options=SYNTHETIC,
        evaluator_options={"optimizer": "sgd", "warmup_epochs": 1, "label_smoothing": 0.1},
        profilers=[],
        epochs=2,
        budget=1,
        progress=False,
        run_dir=tmp_path / "run",
    ).search()
    (trial,) = result.trials
    assert trial.ok, trial.error
    training = trial.metrics["training"]
    assert {k: training[k] for k in ("optimizer", "lr", "momentum", "warmup_epochs", "label_smoothing")} == {
        "optimizer": "sgd",
        "lr": 0.05,
        "momentum": 0.9,
        "warmup_epochs": 1,
        "label_smoothing": 0.1,
    }
    assert (training["augment"], training["amp"], training["data"], training["final"]) == (
        False,
        "off",
        "device",
        False,
    )
    assert SearchResult.load(tmp_path / "run").trials[0].metrics["training"] == training  # kept by the journal


# -- where the data comes from -----------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_a_dataloader_trains_exactly_like_tensors_on_the_device(data, workers):
    colour = load_synthetic(seed=0, channels=3, image_size=8, **SYNTHETIC)
    weights = []
    for source in ("device", "loader"):
        run = start(colour, 2, data=source, workers=workers, augment=True, batch_size=16)
        with run:
            run.fit(colour, TrainingBudget(epochs=2, patience=None))
            assert run.settings.data == source
        weights.append(run.model.state_dict())
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_a_time_cap_stops_training_within_an_epoch(data, monkeypatch):
    """The cap holds even when one epoch is longer than the cap: the epoch ends mid-way."""
    clock = itertools.count(0.0, 1.0)  # every reading one second later
    monkeypatch.setattr(_training.time, "perf_counter", lambda: next(clock))
    with start(data, epochs=3, batch_size=8) as run:
        batches = len(range(0, run.train_size, 8))
        metrics = run.fit(data, TrainingBudget(epochs=3, max_seconds=4.5, patience=None))
    assert metrics["time_capped"] == 1.0
    assert 0 < metrics["epochs"] < 1  # a fraction of the first epoch
    assert metrics["epochs"] == pytest.approx(run.epoch_fraction)
    assert batches > 4


def test_training_within_its_cap_is_not_marked(data):
    with start(data, epochs=2) as run:
        metrics = run.fit(data, TrainingBudget(epochs=2, max_seconds=600, patience=None))
    assert metrics["epochs"] == 2.0
    assert "time_capped" not in metrics


def test_channels_last_on_cpu_trains_like_the_default_layout(data):
    default, nhwc = start(data, 1), start(data, 1, channels_last=True)
    assert nhwc.train_epoch(0) == pytest.approx(default.train_epoch(0), rel=1e-4)
    assert next(p for p in nhwc.model.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)


def test_final_training_learns_from_training_and_validation_data(data):
    assert start(data, final=True).train_size == len(data.y_train) + len(data.y_val)
    assert start(data).train_size == len(data.y_train)


# -- torch.compile -----------------------------------------------------------------------------------


def _has_cxx() -> bool:
    return any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if c)


@pytest.mark.slow
@pytest.mark.skipif(not _has_cxx(), reason="torch.compile on CPU needs a C++ compiler (g++, clang++ or $CXX)")
def test_compile_trains_like_eager(data):
    # 72 training images in 3 batches of 24: one shape, one compilation.
    compiled, eager = start(data, 1, compile=True, batch_size=24), start(data, 1, batch_size=24)
    assert compiled.train_epoch(0) == pytest.approx(eager.train_epoch(0), rel=1e-3)
    for (name, a), b in zip(compiled.model.state_dict().items(), eager.model.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-3), name
    assert compiled.accuracy(data.x_test, data.y_test) == eager.accuracy(data.x_test, data.y_test)


def test_a_compiler_failure_says_how_to_go_on(data, monkeypatch):
    def broken(graph, example_inputs):
        msg = "no C++ compiler found"
        raise RuntimeError(msg)

    monkeypatch.setattr(_training.torch, "compile", functools.partial(torch.compile, backend=broken))
    run = start(data, 1, compile=True)
    with pytest.raises(CompileFailedError) as info:
        run.train_epoch(0)
    message = str(info.value)
    assert message.startswith("compile=true: torch.compile could not compile the model (")
    assert "(RuntimeError: no C++ compiler found)" in message
    assert message.endswith(
        "on CPU it needs a working C++ compiler (g++ or clang, or $CXX), on CUDA Triton; or leave compile=false"
    )


# -- final training ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options=SYNTHETIC,
        strategy_options={"population_size": 2, "sample_size": 2},
        profilers=[],
        epochs=2,
        budget=2,
        seed=3,
        progress=False,
        run_dir=run_dir,
    ).search()
    return run_dir


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def test_train_command_writes_a_model_that_reproduces_its_test_accuracy(finished_run, tmp_path, capsys):
    out = tmp_path / "final"
    code = main(["train", str(finished_run), "--epochs", "4", "--evaluator-option", "optimizer=sgd", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["model.pt", "model.py"]
    records = sorted((finished_run / "final").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    result = SearchResult.load(finished_run)
    assert record["trial"] == result.best.number
    # The run may have settled torch threads for a busy machine when it started.
    options = {k: v for k, v in record["evaluator_options"].items() if k != "threads"}
    assert (record["epochs"], record["seed"], options) == (4, 3, {"optimizer": "sgd"})
    training = record["metrics"]["training"]
    assert (training["final"], training["epochs"], training["optimizer"]) == (True, 4, "sgd")
    assert record["metrics"]["epochs"] == 4  # no early stopping in final training
    assert "accuracy" not in record["metrics"]  # the validation data was trained on
    assert f"trial {record['trial']}: test_accuracy " in printed

    # The exported code, run on the run's test split, gets the reported test accuracy.
    model = load_module(out / "model.py", "final_model").build_model(out / "model.pt")
    data = load_synthetic(seed=3, **SYNTHETIC)
    with torch.no_grad():
        predicted = model(torch.from_numpy(data.x_test)).argmax(1).numpy()
    assert np.mean(predicted == data.y_test) == pytest.approx(record["metrics"]["test_accuracy"], abs=1e-9)
    # The weights are new, not the search's.
    searched = torch.load(finished_run / result.best.weights, weights_only=True)
    final = torch.load(out / "model.pt", weights_only=True)
    assert any(not torch.equal(searched[k], final[k]) for k in searched)
    assert "epochs: 4" in (out / "model.py").read_text()


def test_retrain_in_python_then_export(finished_run, tmp_path):
    result = SearchResult.load(finished_run)
    first = result.retrain(epochs=3, trial=0)
    again = result.retrain(epochs=3, trial=0)
    # Each retraining gets its own file: trial_0000_1.pt, trial_0000_2.pt, ... (the fixture is shared).
    k = int(first.weights.removeprefix("final/trial_0000_").removesuffix(".pt"))
    assert (first.number, again.weights) == (0, f"final/trial_0000_{k + 1}.pt")
    assert json.loads((finished_run / again.weights).with_suffix(".json").read_text())["weights"] == again.weights
    # Seeded: the same retraining gives the same network.
    assert first.metrics["test_accuracy"] == again.metrics["test_accuracy"]
    a = torch.load(finished_run / first.weights, weights_only=True)
    b = torch.load(finished_run / again.weights, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    written = result.export("pytorch", tmp_path / "out", trial=first)
    assert [p.name for p in written] == ["model.py", "model.pt"]
    exported = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], exported[k]) for k in a)


def test_retrain_errors_name_the_problem(finished_run):
    result = SearchResult.load(finished_run)
    with pytest.raises(RunDirectoryError, match=r"^run '.*' has no trial 99$"):
        result.retrain(epochs=2, trial=99)
    with pytest.raises(ConfigError, match=r"^epochs must be a positive int, got 0$"):
        result.retrain(epochs=0)
    with pytest.raises(ConfigError, match=r"^train evaluator: schedule must be one of 'cosine', 'constant'; got 'x'$"):
        result.retrain(epochs=2, evaluator_options={"schedule": "x"})
