"""Hypothesis fuzz of what the command line takes: every value is taken, or refused in one line.

Option values (``KEY=VALUE``, VALUE read as JSON where it parses), genotype text, input
shapes and class counts. No search is run: a search whose arguments all pass stops where
it would start (``NeuralArchitectureSearch.search`` is replaced), so what is fuzzed is
every check before the first trial.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl_codegen import cli
from automl_codegen.errors import ConfigError
from automl_codegen.options import is_options_class, structure_options
from automl_codegen.plugins import get_registry
from automl_codegen.search import NeuralArchitectureSearch

# The function-scoped fixture only replaces NeuralArchitectureSearch.search: the same for every example.
FUZZ = settings(
    max_examples=int(os.environ.get("AUTOML_CODEGEN_FUZZ_EXAMPLES", 50)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
#: What a user may type after ``KEY=``: text, numbers of any size, NaN and infinities, JSON.
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.floats().map(repr),
    st.sampled_from(["NaN", "-Infinity", "1e999", "true", "null", "[]", "{}", '""', "[[[[", "-0", "0x10", "1_000"]),
    _JSON.map(json.dumps),
)


def _options_classes() -> list[tuple[str, str, type]]:
    registry = get_registry()
    found = []
    for entry in registry.entries():
        options = getattr(entry.obj, "Options", None)
        if is_options_class(options):
            found.append((entry.kind, entry.name, options))
    return sorted(found, key=lambda item: (item[0], item[1]))


OPTIONS_CLASSES = _options_classes()


def _keys(fields: list[str]) -> st.SearchStrategy[str]:
    names = st.text(min_size=1, max_size=12)
    return st.one_of(st.sampled_from(fields), names) if fields else names


@FUZZ
@given(data=st.data())
def test_every_plugin_option_is_taken_or_refused_as_a_config_error(data):
    kind, name, options = data.draw(st.sampled_from(OPTIONS_CLASSES), label="plugin")
    fields = [f.name for f in options.__attrs_attrs__]
    pairs = data.draw(st.lists(st.tuples(_keys(fields), VALUES), min_size=1, max_size=3), label="pairs")
    # A ConfigError is the refusal the command words in one line; anything else escapes as a bug.
    with contextlib.suppress(ConfigError):
        structure_options(
            options, cli._key_values([f"{k}={v}" for k, v in pairs], "--option"), owner=f"{kind} {name!r}"
        )


class _Started(BaseException):
    """The search would start now: every argument passed."""


SEARCH_PLUGINS = {
    "space": ("search_space", "chain-cnn"),
    "strategy": ("strategy", "evolution"),
    "evaluator": ("evaluator", "train"),
    "executor": ("executor", "process"),
}


def _fields(kind: str, name: str) -> list[str]:
    entry = get_registry().entry(kind, name)
    options = getattr(entry.obj, "Options", None)
    return [f.name for f in options.__attrs_attrs__] if is_options_class(options) else []


def _main(argv: list[str]) -> tuple[int | None, str]:
    """``main(argv)``: its status and stderr; None where the search would have started."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = cli.main(argv)
        except _Started:
            status = None
        except SystemExit as exc:
            status = exc.code
    return status, err.getvalue()


def _assert_clean(status: int | None, err: str) -> None:
    assert "Traceback" not in err, err[-3000:]
    assert status in (None, 0, 2), (status, err[-2000:])
    if status == 2:
        lines = [line for line in err.splitlines() if line and not line.startswith("warning: ")]
        assert len(lines) == 1, err[-2000:]
        assert lines[0].startswith("automl-codegen: error: ")
        assert len(lines[0]) <= cli.MAX_ERROR_CHARS + 100


@pytest.fixture
def searches_do_not_start(monkeypatch):
    def started(self, *args, **kwargs):
        raise _Started

    monkeypatch.setattr(NeuralArchitectureSearch, "search", started)


@FUZZ
@given(data=st.data())
def test_search_options_are_checked_before_the_search(data, tmp_path_factory, searches_do_not_start):
    flag = data.draw(st.sampled_from(sorted(SEARCH_PLUGINS)), label="flag")
    kind, name = SEARCH_PLUGINS[flag]
    key = data.draw(_keys(_fields(kind, name)), label="key")
    value = data.draw(VALUES, label="value")
    run = tmp_path_factory.mktemp("fuzz") / "r"
    argv = [
        "search", "--dataset", "synthetic", "--dataset-option", "num_samples=60", "--dataset-option", "num_classes=2",
        "--budget-trials", "1", "--epochs", "1", "--profiler", "none", "--quiet", "-o", str(run),
        f"--{flag}={name}" if flag != "space" else f"--space={name}", f"--{flag}-option={key}={value}",
    ]  # fmt: skip
    _assert_clean(*_main(argv))


_NUMBERS = st.one_of(st.integers(-5, 70), st.integers(), st.sampled_from([2**31, 10**12])).map(str)
GENOTYPES = {
    "nb201": st.one_of(
        st.just("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"),
        st.builds(
            lambda ops, inputs: "|{}~{}|+|{}~{}|{}~{}|+|{}~{}|{}~{}|{}~{}|".format(
                *[x for pair in zip(ops, inputs, strict=True) for x in pair]
            ),
            st.lists(st.sampled_from(["none", "skip_connect", "nor_conv_3x3", "bogus", ""]), min_size=6, max_size=6),
            st.lists(_NUMBERS, min_size=6, max_size=6),
        ),
        st.text(max_size=40),
    ),
    "darts-cell": st.one_of(
        st.sampled_from(["DARTS_V1", "DARTS_V2", "DARTS", "darts_v2", "Genotype()", "Genotype(normal=range(9**9))"]),
        st.builds(
            lambda pairs, concat: (
                f"Genotype(normal={pairs!r}, normal_concat={concat}, reduce={pairs!r}, reduce_concat={concat})"
            ),
            st.lists(
                st.tuples(
                    st.sampled_from(["sep_conv_3x3", "max_pool_3x3", "skip_connect", "none", "x"]), st.integers(-2, 6)
                ),
                max_size=9,
            ),
            st.sampled_from(["range(2, 6)", "[2, 3, 4, 5]", "range(2, 6, 0)", "range(10**12)", "[]", "None", "'x'"]),
        ),
        _JSON.map(json.dumps),
    ),
    "chain-cnn": st.one_of(
        st.builds(
            lambda stages: json.dumps({"stages": stages}),
            st.lists(
                st.fixed_dictionaries(
                    {
                        "op": st.sampled_from(["conv", "dsconv", "mbconv", "x"]),
                        "kernel": st.sampled_from([3, 5, 0, -1, 10**9]),
                        "width": st.sampled_from([8, 16, 0, 10**9]),
                        "depth": st.sampled_from([0, 1, 2, 10**6]),
                        "stride": st.sampled_from([1, 2, 0]),
                        "skip": st.booleans(),
                        "expand": st.sampled_from([2, 4, 6, 0]),
                    }
                ),
                max_size=4,
            ),
        ),
        _JSON.map(json.dumps),
        st.text(max_size=30),
    ),
}


@FUZZ
@given(data=st.data())
def test_generate_takes_or_refuses_any_genotype_shape_and_option(data):
    space = data.draw(st.sampled_from(sorted(GENOTYPES)), label="space")
    argv = ["generate", "--space", space, f"--genotype={data.draw(GENOTYPES[space], label='genotype')}", "-o", "-"]
    if data.draw(st.booleans(), label="with sizes"):
        shape = data.draw(st.one_of(st.lists(_NUMBERS, max_size=4).map(",".join), st.text(max_size=12)), label="shape")
        argv += [f"--input-shape={shape}", f"--num-classes={data.draw(_NUMBERS, label='classes')}"]
    fields = _fields("search_space", space)
    for key, value in data.draw(st.lists(st.tuples(_keys(fields), VALUES), max_size=2), label="space options"):
        argv.append(f"--space-option={key}={value}")
    _assert_clean(*_main(argv))
