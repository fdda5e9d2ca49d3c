"""The objectives this plugin registers pass the conformance check an objective's author runs."""

from __future__ import annotations

from automl_codegen_nasbench201 import DEVICE_MEASUREMENTS

from automl_codegen.testing import check_objective, registry_with

DISTRIBUTION = "automl-codegen-nasbench201"


def test_every_objective_of_the_plugin_conforms():
    registry = registry_with()
    entries = [e for e in registry.entries("objective") if e.source.distribution == DISTRIBUTION]
    assert {e.name for e in entries} == set(DEVICE_MEASUREMENTS)
    for entry in entries:
        assert entry.obj.name == entry.name
        report = check_objective(entry.obj, dict.fromkeys(DEVICE_MEASUREMENTS, 2.5))
        assert "a missing measurement raises KeyError" in report.checked
        assert entry.obj.unit == DEVICE_MEASUREMENTS[entry.name][0]
