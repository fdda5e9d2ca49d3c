"""Random search passes the conformance checks a strategy plugin's author runs."""

from __future__ import annotations

import pytest
from automl_codegen_random import RandomSearch

from automl_codegen.testing import check_strategy, check_strategy_in_search, registry_with


def test_the_registered_strategy_is_random_search():
    assert registry_with().get("strategy", "random") is RandomSearch


@pytest.mark.parametrize("space", ["toy", "nb201"])
def test_random_search_conforms(space):
    built = None if space == "toy" else registry_with().get("search_space", space)((3, 8, 8), 4)
    report = check_strategy(RandomSearch, space=built, trials=16, kill_after=7)
    assert not report.skipped
    assert "killed after 7 trials and resumed, it proposes what an uninterrupted run did" in report.checked


def test_random_search_conforms_with_a_small_max_tries():
    check_strategy(RandomSearch, options={"max_tries": 1})


def test_random_search_resumes_in_a_real_search(tmp_path):
    report = check_strategy_in_search("random", run_dir=tmp_path)
    assert "killed after 5 trials and resumed, the search has the same trials" in report.checked
    genotypes = [repr(t.genotype) for t in report.result.trials]
    assert len(set(genotypes)) == len(genotypes) == 12  # never twice while the space has more
