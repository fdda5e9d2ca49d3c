"""The driver of test_two_nodes.py: a search on an existing Ray cluster, as a user's script.

    python two_node_search.py ADDRESS RUN_DIR LOG BUDGET

Trials score without training in a second each and append to LOG where each attempt
started and ended. Prints each trial's number and error (null when it completed) as JSON.
It runs in a process of its own, as a search on a cluster would, and because Ray reads
the cluster's token (RAY_AUTH_TOKEN) once per process: the test's own process has run
a private Ray already.
"""

from __future__ import annotations

import json
import os
import sys
import time

import ray

from automl_codegen import Evaluation, NeuralArchitectureSearch, hookimpl
from automl_codegen.testing import plugin_manager_with

# Set by the test for each node's `ray start`, inherited by the node's worker processes.
NODE = "AUTOML_CODEGEN_RAY_TEST_NODE"


class NodeEvaluator:
    """Scores without training in ``seconds``; appends to ``log`` each attempt's start and end, and its node."""

    measures = ("accuracy",)

    def __init__(self, log: str, seconds: float = 1.0) -> None:
        self.log, self.seconds = log, seconds

    def evaluate(self, architecture, context):
        node = {"trial": context.trial_number, "node": os.environ[NODE].rsplit(":", 1)[1]}
        node["id"] = ray.get_runtime_context().get_node_id()
        _note(self.log, {**node, "event": "start"})
        time.sleep(self.seconds)
        _note(self.log, {**node, "event": "end"})
        return Evaluation(metrics={"accuracy": (architecture.num_params % 97) / 97})


def _note(log: str, line: dict) -> None:
    with open(log, "a") as file:  # one short append: whole lines, from any process
        file.write(json.dumps({**line, "time": time.time()}) + "\n")


class NodePlugin:
    @hookimpl
    def register_evaluators(self, register):
        register("nodes", NodeEvaluator)


def main(address: str, run_dir: str, log: str, budget: str) -> None:
    result = NeuralArchitectureSearch(
        dataset="synthetic",
        dataset_options={"num_samples": 80, "num_classes": 2},
        strategy_options={"population_size": 3},
        evaluator="nodes",
        evaluator_options={"log": log},
        executor="ray",  # NodeEvaluator is in __main__: Ray ships it by value
        executor_options={"address": address},
        profilers=[],
        budget=int(budget),
        seed=2,
        progress=False,
        run_dir=run_dir,
        plugin_manager=plugin_manager_with(NodePlugin()),
    ).search()
    print(json.dumps([[trial.number, trial.error] for trial in result.trials]))


if __name__ == "__main__":
    main(*sys.argv[1:])
