"""The `train` evaluator (the default): real PyTorch training, then profiling."""

from __future__ import annotations

from automl_codegen import ConfigError, hookimpl


class TrainEvaluator:
    """Scores an architecture by training it on the run's dataset.

    Options: ``lr`` (3e-3), ``weight_decay`` (1e-4), ``batch_size`` (64),
    ``label_smoothing`` (0), ``threads`` (torch threads for training; None = torch's
    default). Epochs, early-stopping patience and the time cap come from the run's
    training budget.
    """

    measures = ("accuracy", "test_accuracy", "train_loss", "epochs", "best_epoch", "train_seconds")

    def __init__(self, **options) -> None:
        allowed = {"lr", "weight_decay", "batch_size", "label_smoothing", "threads"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            msg = f"train evaluator has no option(s) {unknown}; allowed: {sorted(allowed)}"
            raise ConfigError(msg)
        self.options = options

    def evaluate(self, architecture, context):
        # torch is imported here, not at plugin load, so listing plugins stays fast.
        from ._training import Trainer, train_and_profile

        return train_and_profile(Trainer(**self.options), architecture, context)


@hookimpl
def register_evaluators(register):
    register("train", TrainEvaluator)
