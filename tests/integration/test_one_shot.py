"""The engine's one-shot path: supernet phase with checkpoints and events, then retraining."""

from __future__ import annotations

from automl_codegen import Evaluation, NeuralArchitectureSearch, OneShotStrategy, hookimpl
from automl_codegen.journal import RunJournal
from automl_codegen.testing import plugin_manager_with


class CountingOneShot(OneShotStrategy):
    """Pretends to train a supernet for three epochs, then proposes one architecture."""

    name = "counting"

    def __init__(self, space, objectives, *, seed=0, epochs=3):
        super().__init__(space, objectives, seed=seed)
        self.epochs_done, self.epochs, self.proposed = 0, epochs, False
        self.checkpoints = 0

    @property
    def supernet_trained(self):
        return self.epochs_done >= self.epochs

    def train_supernet(self, context):
        assert context.dataset.x_train.shape[1:] == (1, 8, 8)
        while self.epochs_done < self.epochs:
            self.epochs_done += 1
            context.log("alpha", self.epochs_done, weights=[0.1 * self.epochs_done, 0.9])
            context.checkpoint()
            self.checkpoints += 1

    def ask(self, n):
        if self.proposed:
            return []
        self.proposed = True
        return [self.space.decode([0] * len(self.space.choices()))]

    def tell(self, trials):
        self.emit("told", trials[0].number, accuracy=trials[0].objectives["accuracy"])

    def state_dict(self):
        return {**super().state_dict(), "epochs_done": self.epochs_done, "proposed": self.proposed}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.epochs_done, self.proposed = state["epochs_done"], state["proposed"]


class Quick:
    measures = ("accuracy",)

    def evaluate(self, architecture, context):
        return Evaluation(metrics={"accuracy": 0.75})


class Plugin:
    @hookimpl
    def register_strategies(self, register):
        register("counting", CountingOneShot)

    @hookimpl
    def register_evaluators(self, register):
        register("quick", Quick)


def test_supernet_phase_then_one_trial_then_stop(tmp_path):
    nas = NeuralArchitectureSearch(
        dataset="synthetic",
        strategy="counting",
        evaluator="quick",
        profilers=[],
        budget=10,
        progress=False,
        run_dir=tmp_path / "run",
        plugin_manager=plugin_manager_with(Plugin()),
    )
    result = nas.search()
    assert nas.strategy.checkpoints == 3
    assert [t.number for t in result.trials] == [0]  # the strategy had nothing more to propose
    assert result.events("alpha") == [
        (1, {"weights": [0.1, 0.9]}),
        (2, {"weights": [0.2, 0.9]}),
        (3, {"weights": [0.30000000000000004, 0.9]}),
    ]
    assert result.events("told") == [(0, {"accuracy": 0.75})]
    with RunJournal.open(tmp_path / "run") as journal:
        assert journal.strategy_state()[1]["epochs_done"] == 3

    # Resuming a finished one-shot run trains nothing again and proposes nothing new.
    again = NeuralArchitectureSearch.resume(
        tmp_path / "run", progress=False, plugin_manager=plugin_manager_with(Plugin())
    )
    assert [t.number for t in again.search().trials] == [0]
    assert again.strategy.checkpoints == 0
