"""The plugin machinery: registration, duplicates, broken plugins, the block list."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from automl_codegen import Objective, PluginError, UnknownNameError, hookimpl, hookspecs
from automl_codegen.plugins import KINDS, get_plugin_manager, get_registry
from automl_codegen.testing import plugin_manager_with, registry_with

BUILTINS = {
    "strategy": {"evolution"},
    "search_space": {"chain-cnn"},
    "objective": {"accuracy", "error", "latency_ms", "params", "flops"},
    "profiler": {"torch-cpu"},
    "emitter": {"pytorch"},
    "dataset": {"digits", "synthetic"},
    "evaluator": {"train"},
    "executor": {"local"},
}


class EnergyPlugin:
    @hookimpl
    def register_objectives(self, register):
        register("energy_mj", Objective("energy_mj", "min", description="energy per inference"))


def test_builtins_come_through_entry_points():
    registry = registry_with()
    for kind, names in BUILTINS.items():
        assert names <= set(registry.names(kind)), kind
        for name in names:
            source = registry.entry(kind, name).source
            assert source.distribution == "automl-codegen"
            assert source.module.startswith("automl_codegen_plugins.")


def test_inline_plugin_registers_and_is_attributed():
    registry = registry_with(EnergyPlugin())
    entry = registry.entry("objective", "energy_mj")
    assert entry.obj.direction == "min"
    assert entry.source.name == "EnergyPlugin"


def test_duplicate_name_is_refused_naming_both_plugins():
    class Shadow:
        @hookimpl
        def register_objectives(self, register):
            register("accuracy", Objective("accuracy", "min"))

    with pytest.raises(PluginError) as info:
        registry_with(Shadow())
    message = str(info.value)
    assert "duplicate objective name 'accuracy'" in message
    assert "plugin 'objectives' (automl_codegen_plugins.objectives, from automl-codegen" in message
    assert "plugin 'Shadow'" in message
    assert "plugin 'Shadow' (test_plugins, not installed)" in message
    assert "AUTOML_CODEGEN_DISABLE_PLUGINS=Shadow" in message


def test_misspelt_hook_fails_loudly():
    class Typo:
        @hookimpl
        def register_strategy(self, register):  # missing "s"
            pass

    with pytest.raises(Exception, match="register_strategy"):
        plugin_manager_with(Typo())


def test_registry_hook_that_raises_is_reported_and_others_survive():
    class Exploding:
        @hookimpl
        def register_datasets(self, register):
            msg = "Don't hide me!"
            raise RuntimeError(msg)

    with pytest.warns(RuntimeWarning, match="Don't hide me!"):
        registry = registry_with(Exploding())
    assert "digits" in registry.names("dataset")
    errors = registry.plugin_manager.load_errors
    assert [e.source.name for e in errors] == ["Exploding"]
    assert "RuntimeError: Don't hide me!" in errors[0].message


def test_unknown_name_lists_installed():
    registry = registry_with()
    with pytest.raises(UnknownNameError) as info:
        registry.get("strategy", "bayesian")
    assert str(info.value) == (
        f"unknown strategy 'bayesian'; installed: {', '.join(registry.names('strategy'))}. "
        "See `automl-codegen plugins`."
    )


def test_block_list_from_environment(monkeypatch):
    monkeypatch.setenv("AUTOML_CODEGEN_DISABLE_PLUGINS", "synthetic, EnergyPlugin")
    registry = registry_with(EnergyPlugin())
    assert "synthetic" not in registry.names("dataset")
    assert "digits" in registry.names("dataset")
    assert "energy_mj" not in registry.names("objective")


def test_every_hook_is_documented_and_covered_by_kinds():
    hooks = [name for name in dir(hookspecs) if name.startswith(("register_", "on_"))]
    assert set(KINDS.values()) <= set(hooks)
    for name in hooks:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.strip()) > 40, f"hook {name} needs a docstring saying when it runs and what it returns"


def test_plugin_modules_do_not_import_torch():
    # Listing plugins and --help must stay fast for users without a warm torch import.
    code = (
        "import sys; from automl_codegen.plugins import get_registry; get_registry(); "
        "print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- a real second distribution, installed from a temporary directory -------------------


def _make_distribution(root: Path, name: str, module_source: str, entry_name: str) -> Path:
    pkg = root / name
    module = name.replace("-", "_")
    (pkg / module).mkdir(parents=True)
    (pkg / module / "__init__.py").write_text(textwrap.dedent(module_source))
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "1.2.3"

            [project.entry-points.automl_codegen]
            {entry_name} = "{module}"
            """
        )
    )
    return pkg


@pytest.fixture(scope="module")
def third_party_site(tmp_path_factory, pip_install_into) -> Path:
    """A site directory holding two real installed distributions: a good plugin and a broken one."""
    root = tmp_path_factory.mktemp("dists")
    good = _make_distribution(
        root,
        "automl-codegen-energy",
        """
        from automl_codegen import Objective, hookimpl

        @hookimpl
        def register_objectives(register):
            register("energy_mj", Objective("energy_mj", "min"))
        """,
        "energy",
    )
    broken = _make_distribution(root, "automl-codegen-broken", 'raise ImportError("Don\'t hide me!")\n', "broken")
    site = root / "site"
    for pkg in (good, broken):
        pip_install_into(site, pkg)
    return site


def test_installed_distribution_is_listed_and_broken_one_is_named(third_party_site, cli_with):
    out = cli_with(third_party_site, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    energy = next(r for r in rows if r["name"] == "energy_mj")
    assert energy == {
        "name": "energy_mj",
        "kind": "objective",
        "plugin": "energy",
        "module": "automl_codegen_energy",
        "distribution": "automl-codegen-energy",
        "version": "1.2.3",
        "description": "",
        "options": [],
    }
    assert {"evolution", "digits", "pytorch"} <= {r["name"] for r in rows}
    assert (
        "broken: plugin 'broken' (automl_codegen_broken, from automl-codegen-broken 1.2.3) "
        "failed to import: ImportError: Don't hide me!"
    ) in out.stderr
    # The traceback survives, down to the plugin's own failing line.
    assert "Traceback (most recent call last)" in out.stderr
    assert 'raise ImportError("Don\'t hide me!")' in out.stderr


def test_listing_names_hook_only_plugins_descriptions_and_options(third_party_site, cli_with):
    rows = json.loads(cli_with(third_party_site, "plugins", "--json").stdout)
    tensorboard = next(r for r in rows if r["name"] == "tensorboard")
    assert tensorboard["kind"] == "hooks"
    assert {"on_search_start", "on_trial_end", "on_search_end"} <= set(tensorboard["hooks"])
    latency = next(r for r in rows if r["name"] == "latency_ms")
    assert latency["description"] == "median CPU inference latency, batch 1"
    evolution = next(r for r in rows if r["name"] == "evolution")
    population = next(o for o in evolution["options"] if o["name"] == "population_size")
    assert (population["type"], population["default"]) == ("int", 10)
    text = cli_with(third_party_site, "plugins", "--options").stdout
    assert "population_size: int = 10" in text


@pytest.fixture(scope="module")
def shadowing_site(tmp_path_factory, pip_install_into) -> Path:
    """A distribution that declares the plugin name ``tensorboard``, which the core distribution uses."""
    root = tmp_path_factory.mktemp("shadow")
    pkg = _make_distribution(root, "automl-codegen-shadow", "", "tensorboard")
    site = root / "site"
    pip_install_into(site, pkg)
    return site


def test_a_plugin_name_claimed_by_two_distributions_is_an_error_naming_both(shadowing_site, cli_with):
    out = cli_with(shadowing_site, "plugins")
    assert out.returncode == 2
    assert (
        "automl-codegen: error: two installed distributions declare the plugin name 'tensorboard' in the "
        "'automl_codegen' entry-point group: plugin 'tensorboard' (automl_codegen_plugins.lifecycle.tensorboard, "
        "from automl-codegen 0.1.0) and plugin 'tensorboard' (automl_codegen_shadow, from automl-codegen-shadow "
        "1.2.3); uninstall one of them (pip uninstall automl-codegen-shadow), or block the name with "
        "AUTOML_CODEGEN_DISABLE_PLUGINS=tensorboard to load neither"
    ) in out.stderr
    blocked = cli_with(shadowing_site, "plugins", env={"AUTOML_CODEGEN_DISABLE_PLUGINS": "tensorboard"})
    assert blocked.returncode == 0, blocked.stderr


def test_installed_distribution_can_be_blocked(third_party_site, cli_with):
    out = cli_with(third_party_site, "plugins", "--json", env={"AUTOML_CODEGEN_DISABLE_PLUGINS": "energy,broken"})
    assert out.returncode == 0
    assert "energy_mj" not in {r["name"] for r in json.loads(out.stdout)}
    assert out.stderr == ""


def test_entry_points_only_when_asked():
    pm = get_plugin_manager(entry_points=False)
    assert pm.get_plugins() == set()


def test_extra_plugins_already_installed_are_skipped_and_a_taken_name_is_a_clear_error():
    import automl_codegen_plugins.objectives as builtin

    pm = get_plugin_manager(plugins=[("objectives-again", builtin)])
    assert pm.get_name(builtin) == "objectives"

    class Other:
        pass

    with pytest.raises(
        PluginError, match=r"cannot add plugin .* as 'objectives': plugin 'objectives' \(automl_codegen_plugins"
    ):
        get_plugin_manager(plugins=[("objectives", Other())])


def test_an_unknown_name_is_never_echoed_back_whole():
    registry = get_registry()
    with pytest.raises(UnknownNameError) as info:
        registry.get("strategy", "x" * 50_000_000)
    message = str(info.value)
    assert message.startswith("unknown strategy 'xxxx")
    assert "...'; installed: " in message
    assert len(message) < 1000


def test_an_objective_registered_under_another_name_is_refused():
    from automl_codegen import Objective, PluginError, hookimpl
    from automl_codegen.plugins import Registry
    from automl_codegen.testing import plugin_manager_with

    class Misnamed:
        @hookimpl
        def register_objectives(self, register):
            register("speed", Objective("latency_ms", "min"))

    with pytest.raises(
        PluginError,
        match=r"registered the objective 'latency_ms' under the name 'speed'; register it as register\('latency_ms', objective\)",
    ):
        Registry(plugin_manager_with(Misnamed())).names("objective")
