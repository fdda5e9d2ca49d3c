"""The README's "Writing a plugin" package, built and installed exactly as printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_snippets() -> tuple[str, str]:
    section = README.read_text().split("## Writing a plugin", 1)[1]
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return toml, python


@pytest.fixture(scope="module")
def readme_plugin_site(tmp_path_factory, pip_install_into) -> Path:
    toml, python = readme_snippets()
    root = tmp_path_factory.mktemp("readme_plugin")
    package = root / "automl-codegen-energy"
    (package / "automl_codegen_energy").mkdir(parents=True)
    build_system = '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
    (package / "pyproject.toml").write_text(build_system + toml.split("\n", 1)[1])  # drop the "# pyproject.toml" line
    (package / "automl_codegen_energy" / "__init__.py").write_text(python)
    site = root / "site"
    pip_install_into(site, package)
    return site


def test_readme_plugin_is_listed_with_its_distribution(readme_plugin_site, cli_with):
    out = cli_with(readme_plugin_site, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    row = next(r for r in json.loads(out.stdout) if r["name"] == "params_per_point")
    assert (row["kind"], row["distribution"], row["version"]) == ("objective", "automl-codegen-energy", "0.1.0")


@pytest.mark.slow
def test_readme_plugin_objective_drives_a_search(readme_plugin_site, tmp_path, cli_with):
    out = cli_with(
        readme_plugin_site,
        *"search --dataset synthetic --objective params_per_point --budget-trials 2 --epochs 1 --quiet".split(),
        "-o",
        str(tmp_path / "run"),
    )
    assert out.returncode == 0, out.stderr
    trials = [json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text().splitlines()]
    for trial in trials:
        metrics = trial["metrics"]
        expected = metrics["params"] / max(metrics["accuracy"] * 100, 1e-9)
        assert trial["objectives"]["params_per_point"] == pytest.approx(expected)
