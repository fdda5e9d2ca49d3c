"""Multi-fidelity search through the engine: short trainings first, promotions, the best from the top rung."""

from __future__ import annotations

import pytest

from automl_codegen import ConfigError, NeuralArchitectureSearch
from automl_codegen.cli import main
from automl_codegen.fidelity import BUDGET_EPOCHS, PROMOTED_FROM, RUNG

pytestmark = pytest.mark.slow  # ten real (short) trainings

CONFIG = {
    "dataset": "synthetic",
    "dataset_options": {"num_samples": 160, "num_classes": 3},
    "strategy": "evolution",
    "strategy_options": {"population_size": 4, "sample_size": 2},
    "objectives": ["accuracy"],
    "budget": 10,
    "epochs": 4,
    "patience": None,
    "profilers": [],
    "seed": 1,
    "progress": False,
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    nas = NeuralArchitectureSearch(
        **CONFIG,
        fidelity={"schedule": "successive-halving", "min_epochs": 1, "eta": 2},
        run_dir=tmp_path_factory.mktemp("sh") / "run",
    )
    return nas.search()


def test_trials_train_for_their_rung_and_promotions_repeat_their_parent(result):
    by_number = {t.number: t for t in result.trials}
    assert len(by_number) == 10
    for trial in result.trials:
        rung = int(trial.metrics[RUNG])
        assert trial.metrics[BUDGET_EPOCHS] == (1, 2, 4)[rung]
        assert trial.metrics["epochs"] == trial.metrics[BUDGET_EPOCHS]  # really trained that long
        if PROMOTED_FROM in trial.metrics:
            parent = by_number[int(trial.metrics[PROMOTED_FROM])]
            assert parent.genotype == trial.genotype
            assert parent.metrics[RUNG] == rung - 1
        else:
            assert rung == 0
    rungs = [int(t.metrics[RUNG]) for t in result.trials]
    assert rungs.count(0) > rungs.count(1) > 0  # most trials are short
    assert sum(t.metrics["epochs"] for t in result.trials) < 10 * 4


def test_the_best_and_the_front_come_from_the_highest_rung(result):
    highest = max(t.metrics[RUNG] for t in result.trials)
    assert result.best.metrics[RUNG] == highest
    assert all(t.metrics[RUNG] == highest for t in result.pareto_front)
    assert result.config["fidelity"] == {"schedule": "successive-halving", "min_epochs": 1, "max_epochs": 4, "eta": 2}


def test_a_resumed_finished_run_adds_nothing(result):
    again = NeuralArchitectureSearch.resume(result.run_dir, progress=False).search()
    assert [t.number for t in again.trials] == list(range(10))


def test_bad_fidelity_is_refused_before_any_work():
    with pytest.raises(ConfigError) as caught:
        NeuralArchitectureSearch(**CONFIG, fidelity={"schedule": "successive-halving", "min_epochs": 4})
    assert "fidelity min_epochs must be an integer from 1 to epochs - 1 = 3" in str(caught.value)


def test_cli_refuses_fidelity_options_without_a_schedule(capsys, tmp_path):
    code = main(["search", "--dataset", "synthetic", "--eta", "2", "--budget-trials", "2", "-o", str(tmp_path / "r")])
    assert code == 2
    assert (
        "--min-epochs and --eta tune multi-fidelity search; add --fidelity successive-halving"
        in capsys.readouterr().err
    )


def _auto(**overrides):
    settings = {**CONFIG, "patience": 4, "epochs": 15, **overrides}
    return NeuralArchitectureSearch(**settings, run_dir="unused")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # 6,000 training images: the lowest rung is 2 epochs (10,000 images or more); rungs 2, 6, 15.
        ({"dataset_options": {"num_samples": 10_000, "num_classes": 3}, "budget": {"seconds": 60}}, 2),
        # A trial budget: every trial trains fully.
        ({"dataset_options": {"num_samples": 10_000, "num_classes": 3}, "budget": 10}, None),
        # Too little data for short trainings to say anything.
        ({"budget": {"seconds": 60}}, None),
        # Asked for none.
        (
            {
                "dataset_options": {"num_samples": 10_000, "num_classes": 3},
                "budget": {"seconds": 60},
                "fidelity": "none",
            },
            None,
        ),
    ],
)
def test_auto_fidelity_is_successive_halving_under_a_seconds_budget_on_enough_data(overrides, expected):
    nas = _auto(**overrides)
    fidelity = nas.settings.fidelity
    assert (fidelity and fidelity["min_epochs"]) == expected
    if expected is not None:
        assert fidelity["schedule"] == "successive-halving"
        assert len(nas.dataset.y_train) == 6000
        assert any("candidates train 2 → 6 → 15 epochs" in note for note in nas.notes)


def test_cli_fidelity_none_and_auto(tmp_path):
    from automl_codegen.cli import _new_search, build_parser

    base = ["search", "--dataset", "synthetic", "--dataset-option", "num_samples=10000", "--budget-seconds", "60"]
    for flag, expected in ((["--fidelity", "none"], None), ([], "successive-halving")):
        args = build_parser().parse_args([*base, *flag, "-o", str(tmp_path / "r")])
        fidelity = _new_search(args).settings.fidelity
        assert (fidelity and fidelity["schedule"]) == expected
