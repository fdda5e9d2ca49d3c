"""Random architectures of a search's space, trained like its trials: the baseline of the one-shot benchmarks."""

from __future__ import annotations

import time

import numpy as np

from automl_codegen import NeuralArchitectureSearch
from automl_codegen.evaluation import EvaluationContext
from automl_codegen.scoring import trial_seed
from automl_codegen_plugins.evaluators.train import TrainEvaluator


def random_test_accuracies(
    nas: NeuralArchitectureSearch, seed: int, count: int, threads: int, verbose: bool = False
) -> tuple[list[float], float]:
    """Test accuracies of ``count`` random genotypes (same space, budget, evaluator, split) and the seconds taken."""
    started = time.perf_counter()
    evaluator = TrainEvaluator(threads=threads)
    rng = np.random.default_rng(seed + 1000)
    accuracies = []
    for number in range(count):
        genotype = nas.space.sample(rng)
        context = EvaluationContext(dataset=nas.dataset, budget=nas.training, seed=trial_seed(seed, number))
        evaluation = evaluator.evaluate(nas.space.to_architecture(genotype), context)
        accuracies.append(evaluation.metrics["test_accuracy"])
        if verbose:
            print(f"  random {number:2d}: test {accuracies[-1]:.4f}  {genotype}")
    return accuracies, time.perf_counter() - started
