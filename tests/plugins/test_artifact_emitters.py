"""The onnx and tflite emitters: one checked deployment file per network, weights included."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from ir_cases import CASES

from automl_codegen import ArchitectureError, ConfigError
from automl_codegen_plugins.emitters.onnx import OnnxEmitter
from automl_codegen_plugins.emitters.onnx import _emitter as onnx_emitter
from automl_codegen_plugins.emitters.tflite import TfliteEmitter
from automl_codegen_plugins.emitters.tflite import _emitter as tflite_emitter
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace
from automl_codegen_plugins.spaces.darts_cell import DartsCellSpace
from automl_codegen_plugins.spaces.nb201 import NB201Space
from automl_codegen_plugins.torch_model import build_model

ROOT = Path(__file__).resolve().parents[2]
EMITTERS = {"onnx": OnnxEmitter(), "tflite": TfliteEmitter()}
MODULES = {"onnx": onnx_emitter, "tflite": tflite_emitter}
NB201_GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def one_network_per_space():
    chain = ChainCNNSpace(input_shape=(3, 32, 32), num_classes=10)
    nb201 = NB201Space(channels=8, cells_per_stage=1)
    darts = DartsCellSpace(init_channels=8, layers=5)
    return {
        "chain-cnn": chain.to_architecture(chain.decode([1] * len(chain.choices()))),
        "nb201": nb201.to_architecture(nb201.parse_genotype(NB201_GENOTYPE)),
        "darts-cell": darts.to_architecture(darts.decode([1] * len(darts.choices()))),
    }


def trained_like(arch):
    """The torch model with seeded weights and batch-norm statistics that are not 0 and 1."""
    torch.manual_seed(3)
    model = build_model(arch)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def run_file(kind, path, x):
    """Logits of an exported file for the NCHW batch ``x``, as a deployment would compute them."""
    if kind == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(["logits"], {"input": x})[0]
    return tflite_emitter.run(path.read_bytes(), np.ascontiguousarray(x.transpose(0, 2, 3, 1)))


def recorded(kind, paths):
    """What the export recorded beside the model: ONNX metadata, or the TFLite JSON file."""
    if kind == "onnx":
        return {p.key: json.loads(p.value) for p in onnx.load(str(paths[0])).metadata_props}
    return json.loads(paths[1].read_text())


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(EMITTERS))
@pytest.mark.parametrize("space", ["chain-cnn", "nb201", "darts-cell"])
def test_the_exported_file_computes_what_torch_does_at_any_batch_size(kind, space, tmp_path):
    arch = one_network_per_space()[space]
    model = trained_like(arch)
    paths = EMITTERS[kind].export(arch, tmp_path, model.state_dict(), {"space": space})
    for batch in (1, 4):
        x = torch.randn(batch, *arch.input_shape)
        with torch.no_grad():
            expected = model(x).numpy()
        got = run_file(kind, paths[0], x.numpy())
        assert got.shape == (batch, arch.num_classes)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    facts = recorded(kind, paths)
    assert facts["parity_max_abs_diff"] <= 1e-4
    assert facts["space"] == space


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(EMITTERS))
def test_an_export_is_byte_identical_in_another_process(kind, tmp_path):
    script = (
        "import sys; sys.path.insert(0, 'tests/plugins'); from ir_cases import CASES;"
        "from automl_codegen.plugins import get_registry;"
        "get_registry().get('emitter', sys.argv[1]).export(CASES['cells'](), sys.argv[2], None, {'dataset': 'digits'})"
    )
    digests = []
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-c", script, kind, str(tmp_path / run)], check=True, cwd=ROOT)
        files = sorted((tmp_path / run).iterdir())
        data = b"".join(path.read_bytes() for path in files)
        assert b"/tmp" not in data  # no traces of the exporting machine's scratch files
        digests.append(hashlib.sha256(data).hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.parametrize("kind", sorted(EMITTERS))
def test_weights_that_do_not_fit_are_refused_before_anything_is_written(kind, tmp_path):
    arch = CASES["chain_cnn"]()
    weights = {k: v for k, v in build_model(arch).state_dict().items() if not k.endswith("bias")}
    with pytest.raises(
        ArchitectureError,
        match=r"does not fit architecture 'ChainNet': Error\(s\) in loading state_dict for \w+: Missing key",
    ):
        EMITTERS[kind].export(arch, tmp_path / "out", weights)
    assert not (tmp_path / "out").exists()


def test_an_onnx_graph_that_strays_from_torch_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_emitter, "_parity", lambda *args: 0.5)
    with pytest.raises(ArchitectureError, match=r"computes logits up to 0\.5 away from PyTorch's"):
        EMITTERS["onnx"].export(CASES["chain_cnn"](), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_tflite_model_that_strays_from_torch_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tflite_emitter, "run", lambda data, x: np.full((len(x), 10), 0.5, "float32"))
    with pytest.raises(ArchitectureError, match=r"the TFLite model of 'ChainNet' computes logits up to .* away"):
        EMITTERS["tflite"].export(CASES["chain_cnn"](), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("kind", "package", "extra"), [("onnx", "onnxscript", "onnx"), ("tflite", "tensorflow", "tf")])
def test_a_missing_package_names_the_extra_that_brings_it(kind, package, extra, monkeypatch, tmp_path):
    real = importlib.import_module

    def without(name, *args):
        if name == package:
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(MODULES[kind].importlib, "import_module", without)
    with pytest.raises(ConfigError) as info:
        EMITTERS[kind].export(CASES["chain_cnn"](), tmp_path)
    assert str(info.value) == (
        f"the {kind} emitter needs the package {package!r}, which is not installed: pip install 'automl-codegen[{extra}]'"
    )


@pytest.mark.slow
def test_generate_writes_an_artifact_where_it_is_told(tmp_path):
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "automl_codegen.cli", "generate", "--space", "nb201", "--genotype", NB201_GENOTYPE]
    out = subprocess.run([*command, "--emitter", "tflite", "-o", tmp_path / "net.tflite"], capture_output=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split() == [str(tmp_path / "net.tflite"), str(tmp_path / "net.tflite.json")]
    assert json.loads((tmp_path / "net.tflite.json").read_text())["input"]["layout"] == "NHWC"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.tflite", "net.tflite.json"]  # no scratch left
    out = subprocess.run([*command, "--emitter", "onnx", "-o", "-"], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert (
        out.stderr
        == "automl-codegen: error: the onnx emitter writes a binary file, not text for stdout; give -o FILE\n"
    )
