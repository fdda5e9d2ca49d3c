"""Objectives, constraints and the budget/config checks of the search facade."""

from __future__ import annotations

import math

import pytest

from automl_codegen import ConfigError, Constraint, NeuralArchitectureSearch, Objective


@pytest.mark.parametrize(
    ("text", "name", "op", "bound"),
    [
        ("latency_ms <= 2", "latency_ms", "<=", 2.0),
        ("params<50000", "params", "<", 50000.0),
        (" accuracy >= 0.9 ", "accuracy", ">=", 0.9),
    ],
)
def test_constraint_parsing(text, name, op, bound):
    assert Constraint.parse(text) == Constraint(name, op, bound)


@pytest.mark.parametrize("text", ["latency_ms = 2", "latency_ms <= fast", "<= 2", "latency_ms <= 2 ms", "", "a <= inf"])
def test_constraint_syntax_errors(text):
    with pytest.raises(ConfigError) as info:
        Constraint.parse(text)
    assert repr(text) in str(info.value)


def test_constraint_syntax_error_message():
    with pytest.raises(ConfigError) as info:
        Constraint.parse("latency_ms = 2")
    assert str(info.value) == (
        "cannot parse constraint 'latency_ms = 2': write NAME OP NUMBER with OP one of <=, <, >=, >, "
        "e.g. 'latency_ms <= 2' or 'params < 50000'"
    )


def test_constraint_violation_is_relative_and_zero_when_met():
    c = Constraint.parse("latency_ms <= 2")
    assert c.violation({"latency_ms": 1.5}) == 0.0
    assert c.violation({"latency_ms": 2.0}) == 0.0
    assert c.violation({"latency_ms": 3.0}) == pytest.approx(0.5)
    assert c.violation({}) == math.inf
    strict = Constraint.parse("params < 100")
    assert strict.violation({"params": 100}) > 0
    assert Constraint.parse("accuracy >= 0.9").violation({"accuracy": 0.45}) == pytest.approx(0.5)


def test_objective_directions():
    acc = Objective("accuracy", "max")
    assert acc.as_loss(0.9) == -0.9
    assert acc.better(0.9, 0.8)
    assert acc.as_loss(math.nan) == math.inf
    with pytest.raises(ValueError, match="direction"):
        Objective("x", "up")


ALL_TASKS = "image_classification, tabular_classification, tabular_regression, sequence_classification"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0}, "budget must be a positive int, got 0"),
        ({"budget": {"trials": -1}}, "budget['trials'] must be a positive int, got -1"),
        ({"budget": {"seconds": 0}}, "budget['seconds'] must be a positive float, got 0"),
        ({"budget": {"epochs": 3}}, "budget has unknown key(s) ['epochs']; use 'trials' and/or 'seconds'"),
        ({"epochs": 0}, "epochs must be a positive int, got 0"),
        ({"task": "translation"}, f"unknown task 'translation'; the tasks are {ALL_TASKS}"),
        ({"objectives": []}, "at least one objective is needed, e.g. objectives=['accuracy']"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        (
            {"constraints": ["energy_mj <= 3"]},
            "constraint 'energy_mj <= 3' needs the measurement 'energy_mj', which no evaluator or profiler "
            "of this search produces; measured: accuracy, activation_memory_mb, best_epoch, epochs, flops, "
            "latency_cv, latency_iqr_ms, latency_ms, latency_raw_ms, latency_reference_ms, latency_slowdown, "
            "latency_threads, mae, mse, param_memory_mb, params, peak_memory_mb, r2, test_accuracy, test_mae, "
            "test_mse, test_r2, train_loss, train_seconds, val_loss",
        ),
    ],
)
def test_bad_configuration_is_refused_before_any_work(kwargs, message):
    with pytest.raises(ConfigError) as info:
        NeuralArchitectureSearch(**kwargs)
    assert str(info.value) == message


def test_unknown_objective_lists_installed():
    with pytest.raises(KeyError) as info:
        NeuralArchitectureSearch(objectives=["speed"])
    message = str(info.value)
    head, _, listed = message.partition("; installed: ")
    assert head == "unknown objective 'speed'"
    names = listed.removesuffix(". See `automl-codegen plugins`.").split(", ")
    assert names == sorted(names)
    assert {"accuracy", "error", "flops", "latency_ms", "params", "peak_memory_mb"} <= set(names)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("params < 1234567", "params < 1234567"),
        ("latency_ms <= 2", "latency_ms <= 2"),
        ("accuracy >= 0.1", "accuracy >= 0.1"),
        ("x > 1.0000001", "x > 1.0000001"),
        ("x > 1e20", "x > 1e+20"),
    ],
)
def test_a_constraint_is_written_back_exactly(text, shown):
    # The journal keeps this text; a rounded bound would change feasibility after a resume.
    constraint = Constraint.parse(text)
    assert str(constraint) == shown
    assert Constraint.parse(str(constraint)) == constraint
