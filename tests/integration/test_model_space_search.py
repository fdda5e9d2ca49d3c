"""A space declared in Python, searched end to end: real training, the best exported as PyTorch code."""

from __future__ import annotations

import importlib.util
import itertools
import json

import numpy as np
import pytest

from automl_codegen import ConfigError, NeuralArchitectureSearch
from automl_codegen import model_space as ms

torch = pytest.importorskip("torch")

_module_ids = itertools.count()


def digits(n: int = 360) -> tuple[np.ndarray, np.ndarray]:
    """Digits as (N, 1, 8, 8) images, 10 classes."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images[:n, None].astype(np.float32), bunch.target[:n]


def wine() -> tuple[np.ndarray, np.ndarray]:
    """A table: 178 wines, 13 features, 3 classes."""
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    return x.astype(np.float32), y


def mlp() -> ms.ModelSpace:
    return ms.ModelSpace(
        "my-mlp",
        ms.Repeat(
            ms.Residual(
                ms.Sequential(
                    ms.Linear(ms.choice("width", [16, 32, 64])),
                    ms.OneOf("norm", {"none": ms.Identity(), "batch": ms.BatchNorm(), "layer": ms.LayerNorm()}),
                    ms.Activation(ms.choice("act", ["relu", "gelu", "silu", "tanh"])),
                    ms.Dropout(ms.choice("dropout", [0.0, 0.1, 0.3])),
                ),
                enabled=ms.choice("skip", [False, True]),
            ),
            depth=ms.choice("depth", [1, 2, 3]),
        ),
    )


def small_cnn() -> ms.ModelSpace:
    return ms.ModelSpace(
        "small-cnn",
        ms.Sequential(
            ms.Conv(8, 3),
            ms.BatchNorm(),
            ms.Activation("relu"),
            ms.Repeat(
                ms.Residual(
                    ms.Sequential(
                        ms.Conv(ms.choice("width", [8, 12]), ms.choice("kernel", [1, 3]), ms.choice("stride", [1, 2])),
                        ms.OneOf("norm", {"none": ms.Identity(), "batch": ms.BatchNorm()}),
                        ms.Activation(ms.choice("act", ["relu", "silu", "hardswish"])),
                        ms.Dropout(ms.choice("dropout", [0.0, 0.1])),
                    ),
                    enabled=ms.choice("skip", [False, True]),
                ),
                depth=ms.choice("depth", [1, 2]),
            ),
        ),
    )


def search(tmp_path, strategy, strategy_options, **overrides):
    kwargs = {
        "dataset": digits(),
        "space": small_cnn(),
        "strategy": strategy,
        "strategy_options": strategy_options,
        "budget": 3,
        "epochs": 1,
        "seed": 0,
        "profilers": [],
        "progress": False,
        "device": "cpu",
        "run_dir": tmp_path / "run",
        **overrides,
    }
    return NeuralArchitectureSearch(**kwargs)


def import_file(path):
    spec = importlib.util.spec_from_file_location(f"emitted_model_space_{next(_module_ids)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_matches_trained(nas, result, out_dir) -> None:
    """The emitted PyTorch code with the trained weights computes what the trained model does."""
    from automl_codegen_plugins.torch_model import build_model

    best = result.best
    written = result.export("pytorch", out_dir)
    assert {p.name for p in written} == {"model.py", "model.pt"}
    source = (out_dir / "model.py").read_text()
    assert "automl_codegen" not in source
    emitted = import_file(out_dir / "model.py").build_model(str(out_dir / "model.pt")).eval()

    trained = build_model(best.architecture)
    trained.load_state_dict(torch.load(nas.run_dir / best.weights, map_location="cpu", weights_only=True))
    trained.eval()
    x = torch.from_numpy(np.asarray(nas.dataset.x_test, dtype=np.float32))
    with torch.no_grad():
        expected, got = trained(x), emitted(x)
    assert got.shape == (len(x), nas.space.num_classes)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # The same predictions on the test split as the search reported.
    accuracy = (got.argmax(1).numpy() == np.asarray(nas.dataset.y_test)).mean()
    assert accuracy == pytest.approx(best.metrics["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize(
    ("strategy", "options"),
    [("evolution", {"population_size": 2, "sample_size": 2}), ("rl", {"batch_size": 2})],
)
def test_a_declared_space_is_searched_and_its_best_exported(tmp_path, strategy, options):
    nas = search(tmp_path, strategy, options)
    assert nas.space.name == "small-cnn"
    assert isinstance(nas.space, ms.DeclaredSpace)
    result = nas.search()
    assert len(result.trials) == 3
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    space = nas.space
    for trial in result.trials:
        # Genotypes are the declared choices, journaled as plain JSON.
        assert list(trial.genotype) == [c.name for c in space.choices()]
        assert space.to_architecture(trial.genotype) == trial.architecture
    assert len({space.key(t.genotype) for t in result.trials}) == 3  # no network trained twice
    assert result.config["space"] == "small-cnn"
    lines = (tmp_path / "run" / "trials.jsonl").read_text().splitlines()
    assert [json.loads(line)["genotype"] for line in lines] == [t.genotype for t in result.trials]
    exported_matches_trained(nas, result, tmp_path / "export")


@pytest.mark.parametrize(
    ("strategy", "options"),
    [("evolution", {"population_size": 2, "sample_size": 2}), ("rl", {"batch_size": 2})],
)
def test_a_declared_mlp_searches_a_table(tmp_path, strategy, options):
    nas = search(tmp_path, strategy, options, dataset=wine(), space=mlp(), budget=4)
    assert nas.space.input_shape == (13,)
    result = nas.search()
    assert len(result.trials) == 4
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    assert all(t.architecture.input_shape == (13,) for t in result.trials)
    exported_matches_trained(nas, result, tmp_path / "export")


def test_a_declared_space_must_be_given_again_to_resume(tmp_path):
    nas = search(tmp_path, "evolution", {"population_size": 2, "sample_size": 2}, budget=1)
    nas.search()
    with pytest.raises(ConfigError, match="searched the space 'small-cnn', which was given from Python"):
        NeuralArchitectureSearch.resume(tmp_path / "run", dataset=digits(), progress=False)
    resumed = NeuralArchitectureSearch.resume(
        tmp_path / "run", dataset=digits(), space=small_cnn(), budget=1, progress=False
    )
    result = resumed.search()
    assert len(result.trials) == 2
    assert all(t.ok for t in result.trials)


def test_a_declaration_that_does_not_fit_the_data_is_refused_before_any_trial(tmp_path):
    mlp = ms.ModelSpace("flat-mlp", ms.Sequential(ms.Linear(16), ms.Activation("relu")))
    with pytest.raises(ConfigError) as info:
        search(tmp_path, "evolution", {"population_size": 2}, space=mlp)
    assert str(info.value).startswith("space 'flat-mlp' takes (F,) vectors, not inputs of shape (1, 8, 8); ")
    assert not (tmp_path / "run" / "trials.jsonl").exists()


def small_cells() -> ms.ModelSpace:
    """A fixed graph whose only choices are the edges of one cell, used twice (one decision)."""

    def conv(kernel):
        return ms.Sequential(ms.Activation("relu"), ms.Conv(8, kernel, bias=False), ms.BatchNorm())

    ops = {"conv3": conv(3), "conv1": conv(1), "skip": ms.Identity(), "pool": ms.AvgPool(3, stride=1, padding=1)}
    cell = ms.Cell("cell", nodes=2, ops=ops)
    return ms.ModelSpace(
        "small-cells", ms.Sequential(ms.Conv(8, 3, bias=False), ms.BatchNorm(), cell, ms.Conv(8, 3, stride=2), cell)
    )


def test_darts_searches_a_declared_cell_space(tmp_path):
    nas = search(tmp_path, "darts", {"epochs": 2, "batch_size": 32}, space=small_cells(), budget=1)
    result = nas.search()
    (trial,) = result.trials
    assert trial.ok, trial.error
    assert list(trial.genotype) == ["cell.edge_0_1", "cell.edge_0_2", "cell.edge_1_2"]
    assert set(trial.genotype.values()) <= {"conv3", "conv1", "skip", "pool"}
    alphas = result.events("alpha")
    assert [step for step, _ in alphas] == [0, 1, 2]
    assert [list(values) for _, values in alphas] == [["cell"]] * 3  # one weight matrix: the cells share it
    final = np.array(alphas[-1][1]["cell"])
    assert final.shape == (3, 4)
    assert [["conv3", "conv1", "skip", "pool"][i] for i in final.argmax(1)] == list(trial.genotype.values())
    exported_matches_trained(nas, result, tmp_path / "export")


@pytest.mark.parametrize("strategy", ["darts", "enas"])
def test_one_shot_strategies_refuse_a_declared_space_with_other_choices(tmp_path, strategy):
    with pytest.raises(ConfigError) as info:
        search(tmp_path, strategy, {}, space=small_cnn())
    assert str(info.value) == (
        "space 'small-cnn' has choices that are not op choices on a fixed graph ('width[0]', 'kernel[0]', "
        "'stride[0]', 'act[0]', 'dropout[0]', 'skip[0]', 'width[1]', 'kernel[1]', 'stride[1]', 'act[1]', "
        "'dropout[1]', 'skip[1]', ... (13 in all)): one-shot strategies (darts, enas) search only OneOf and Cell "
        "edges whose ops keep the shape; use evolution or rl"
    )


def test_darts_searches_op_choices_on_vectors(tmp_path):
    op = ms.OneOf(
        "op",
        {"linear": ms.Sequential(ms.Linear(16), ms.BatchNorm(), ms.Activation("relu")), "skip": ms.Identity()},
    )
    chain = ms.ModelSpace("vector-chain", ms.Sequential(ms.Linear(16), ms.Repeat(op, depth=3)))
    nas = search(tmp_path, "darts", {"epochs": 2, "batch_size": 32}, dataset=wine(), space=chain, budget=1)
    result = nas.search()
    (trial,) = result.trials
    assert trial.ok, trial.error
    assert list(trial.genotype) == ["op[0]", "op[1]", "op[2]"]
    assert list(result.events("alpha")[-1][1]) == ["op[0]", "op[1]", "op[2]"]
    exported_matches_trained(nas, result, tmp_path / "export")
