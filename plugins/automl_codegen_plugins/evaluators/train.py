"""The `train` evaluator (the default): real PyTorch training, then profiling."""

from __future__ import annotations

from automl_codegen import hookimpl

from ._options import TrainingOptions


class TrainEvaluator:
    """Scores an architecture by training it on the run's dataset.

    Options (all checked here, before any training; see :class:`TrainingOptions`):
    ``optimizer`` ("adamw" or "sgd"), ``lr`` (3e-3 for AdamW, 0.05 for SGD),
    ``lr_min`` (0), ``weight_decay`` (1e-4), ``momentum`` (0.9, SGD, Nesterov),
    ``schedule`` ("cosine" or "constant"), ``warmup_epochs`` (0), ``batch_size`` (64),
    ``label_smoothing`` (0), ``augment`` (the dataset's default), ``amp`` ("auto": on
    for CUDA), ``channels_last`` (on for CUDA), ``compile`` (false), ``data`` ("auto",
    "device" or "loader"), ``workers``, ``threads`` (torch threads for training; None =
    torch's default). Epochs, early-stopping patience and the time cap come from the
    run's training budget. The settings a trial used are in its metrics under
    ``"training"``.

    ``final_training``: the evaluator can retrain a chosen architecture on training +
    validation data (``EvaluationContext.final``), which :meth:`SearchResult.retrain`
    needs. ``trains``: it honours the budget's epochs and time cap, so a search under a
    seconds budget schedules epochs (multi-fidelity) by default.
    """

    Options = TrainingOptions

    # accuracy for classification; mse, mae and r2 for regression (automl_codegen.tasks).
    measures = (
        "accuracy",
        "test_accuracy",
        "mse",
        "mae",
        "r2",
        "test_mse",
        "test_mae",
        "test_r2",
        "val_loss",
        "train_loss",
        "epochs",
        "best_epoch",
        "train_seconds",
    )
    final_training = True
    trains = True

    def __init__(self, **options) -> None:
        self.training_options = self.Options.from_options(**options)
        # As given: the trainer checks them again in the worker that trains.
        self.options = options

    def run_options(self, device):
        """The options to record for a new run on this machine: on the CPU, with ``threads``
        left to the default, torch threads less the cores other processes keep busy.

        Decided once and journaled, not per trial: the thread count changes a training's
        floating-point sums, and a resumed run must train exactly as the first session.
        """
        if self.training_options.threads is not None or not str(device).startswith("cpu"):
            return self.options
        from ._cores import FreeCores, available_cores

        cores = available_cores()
        threads = FreeCores().threads(cores)
        return self.options if threads >= cores else {**self.options, "threads": threads}

    def evaluate(self, architecture, context):
        # torch is imported here, not at plugin load, so listing plugins stays fast.
        from ._training import Trainer, train_and_profile

        return train_and_profile(Trainer(**self.options), architecture, context)

    @staticmethod
    def save_weights(state_dict, path):
        """Write a trial's trained weights (a torch state dict) into the run directory."""
        import torch

        torch.save(state_dict, path)

    @staticmethod
    def load_weights(path):
        """Read weights :meth:`save_weights` wrote, onto the CPU, tensors only."""
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)


@hookimpl
def register_evaluators(register):
    register("train", TrainEvaluator)
