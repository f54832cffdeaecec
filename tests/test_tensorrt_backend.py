"""TensorRT backend: the import guard, the engine cache key, and the backend's logic with a stand-in
torch_tensorrt (TensorRT itself is on no machine we can reach, so the real one never runs here)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine_helpers import failing_compile, max_diff, random_frames, reference_upscale, tiny_net
from repsr_video.backends import Backend
from repsr_video.backends.tensorrt import engine_path, tensorrt_problem
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.errors import EngineError

CPU_EAGER = EngineSettings(device="cpu", backend="eager")


def test_tensorrt_backend_is_refused_with_a_clear_message_where_it_cannot_run():
    with pytest.raises(EngineError, match="tensorrt|TensorRT"):
        create_engine_for_network(tiny_net(), EngineSettings(device="cpu", backend="tensorrt"))


def test_tensorrt_import_guard_names_the_fix():
    problem = tensorrt_problem()
    try:
        import torch_tensorrt  # noqa: F401
    except Exception:  # noqa: BLE001
        assert problem is not None and "pip install" in problem and "--backend compile" in problem
    else:
        assert problem is None


def test_tensorrt_cache_path_changes_with_every_key_field():
    key = {
        "model_sha256": "ab" * 32, "input_shape": "4x3x540x960", "batch": "4", "precision": "fp16",
        "gpu": "NVIDIA H100", "compute_capability": "9.0", "torch": "2.13.0", "torch_tensorrt": "2.13.0",
        "tensorrt": "11.0.0",
    }
    base = engine_path(key)
    assert base == engine_path(dict(key))
    for field in key:
        assert engine_path({**key, field: key[field] + "x"}) != base, field


# --- TensorRT backend logic with a stand-in torch_tensorrt (the real one cannot run here) ---------


class _FakeTorchTensorRT:
    """Records the calls; 'compiles' to the exported module and saves with torch.export."""

    __version__ = "2.13.0"

    def __init__(self, fail: bool = False) -> None:
        self.compile_calls: list[dict] = []
        self.fail = fail
        fake = self

        class Input:
            def __init__(self, shape, dtype=torch.float32):
                self.shape, self.dtype = tuple(shape), dtype

        class dynamo:  # noqa: N801 - mirrors torch_tensorrt.dynamo
            @staticmethod
            def compile(exported, **kwargs):
                if fake.fail:
                    raise RuntimeError("Conversion of aten.foo not supported (test)")
                fake.compile_calls.append(kwargs)
                return exported.module()

        self.Input, self.dynamo = Input, dynamo

    def save(self, module, path, *, output_format, arg_inputs):
        assert output_format == "exported_program"
        torch.export.save(torch.export.export(module, tuple(arg_inputs)), path)


@pytest.fixture
def fake_trt(monkeypatch, tmp_path):
    from repsr_video.backends import tensorrt as trt

    monkeypatch.setenv("REPSR_VIDEO_CACHE", str(tmp_path / "cache"))
    # The real cache key, on a pretend GPU (the backend runs on the CPU here).
    monkeypatch.setattr(trt.torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr(trt.torch.cuda, "get_device_name", lambda device=None: "Test GPU")

    def install(fail=False):
        fake = _FakeTorchTensorRT(fail)
        monkeypatch.setitem(__import__("sys").modules, "torch_tensorrt", fake)
        return fake

    return install


def _eager(net):
    from repsr_video.backends.eager import EagerBackend

    return EagerBackend(create_engine_for_network(net, CPU_EAGER, precision="fp32")._runner.graphs)


def _trt_backend(net, fallback=None, precision="fp16"):
    from repsr_video.backends.graph import COMPUTE_DTYPES, FrameGraph, Residual
    from repsr_video.backends.tensorrt import TensorRTBackend

    dtype = COMPUTE_DTYPES[precision]
    residual = Residual(copy.deepcopy(net)).eval().to(dtype)

    def factory(r, wire):
        return FrameGraph(r, net.scale, dtype, wire, 255.0 if wire == torch.uint8 else 65535.0)

    return TensorRTBackend(
        residual, net.scale, torch.device("cpu"), "ab" * 32, factory, fallback or _eager(net), precision=precision
    )


def test_tensorrt_builds_half_static_engines_and_reuses_them_from_disk(fake_trt, tmp_path):
    fake = fake_trt()
    net = tiny_net()
    frames = torch.from_numpy(random_frames(2, 8, 10))
    out, finite = _trt_backend(net)(frames)
    assert bool(finite) and out.shape == (2, 16, 20, 3)
    assert max_diff(out.numpy(), reference_upscale(net, frames.numpy())) <= 2
    (call,) = fake.compile_calls
    (spec,) = call["arg_inputs"]
    assert spec.shape == (2, 3, 8, 10) and spec.dtype == torch.half  # strongly typed fp16 engine
    assert call["immutable_weights"] is True and "enabled_precisions" not in call
    saved = list((tmp_path / "cache" / "tensorrt").iterdir())
    assert len(saved) == 1 and saved[0].suffix == ".pt2"
    # A new engine in a new process finds the saved file: no second build.
    again, _ = _trt_backend(net)(frames)
    assert len(fake.compile_calls) == 1 and np.array_equal(again.numpy(), out.numpy())
    # A damaged file is rebuilt, and said so.
    saved[0].write_bytes(b"garbage")
    backend = _trt_backend(net)
    backend(frames)
    assert len(fake.compile_calls) == 2 and "rebuilt" in backend.note


def test_tensorrt_engines_follow_the_engine_precision(fake_trt, tmp_path):
    """An fp32 engine is traced and built in fp32 and cached apart from the fp16 one, never mixed up."""
    fake = fake_trt()
    net = tiny_net()
    frames = torch.from_numpy(random_frames(1, 8, 10))
    out, _ = _trt_backend(net, precision="fp32")(frames)
    assert max_diff(out.numpy(), reference_upscale(net, frames.numpy())) <= 1
    _trt_backend(net, precision="fp16")(frames)  # same net and shape: a new build, not the fp32 file
    assert [call["arg_inputs"][0].dtype for call in fake.compile_calls] == [torch.float32, torch.float16]
    names = sorted(p.name for p in (tmp_path / "cache" / "tensorrt").iterdir())
    assert [name.split("_")[2] for name in names] == ["fp16", "fp32"], names


def test_tensorrt_key_names_the_precision(fake_trt):
    from repsr_video.backends.tensorrt import engine_key

    fake_trt()
    key = engine_key("ab" * 32, (1, 3, 8, 10), torch.device("cuda", 0), "bf16")
    assert key["precision"] == "bf16" and key["gpu"] == "Test GPU" and key["compute_capability"] == "9.0"
    assert engine_path(key) != engine_path({**key, "precision": "fp16"})


def test_tensorrt_refuses_weights_of_another_precision(fake_trt):
    from repsr_video.backends.graph import Residual
    from repsr_video.backends.tensorrt import TensorRTBackend

    fake_trt()
    net = tiny_net()
    with pytest.raises(ValueError, match="float32 for a fp32 TensorRT engine"):
        TensorRTBackend(Residual(net).half(), 2, torch.device("cpu"), "ab", lambda r, w: None, _eager(net), precision="fp32")


def test_tensorrt_build_failure_falls_back_and_records_why(fake_trt):
    fake_trt(fail=True)
    net = tiny_net()
    backend = _trt_backend(net)
    assert isinstance(backend, Backend)
    frames = random_frames(1, 8, 8)
    out, _ = backend(torch.from_numpy(frames))
    assert backend.current_name() == "eager" and "aten.foo" in backend.note
    assert max_diff(out.numpy(), reference_upscale(net, frames)) <= 1


def test_notes_of_every_fallback_in_the_chain_surface(fake_trt, monkeypatch):
    """TensorRT fails, then its torch.compile fallback fails: both reasons reach the engine's notes."""
    from repsr_video.backends import compiled

    fake_trt(fail=True)
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    monkeypatch.setattr(torch, "compile", failing_compile("Inductor gave up (test)"))
    net = tiny_net()
    backend = _trt_backend(net, fallback=compiled.CompiledBackend(_eager(net), torch.device("cpu")))
    frames = random_frames(1, 8, 8)
    out, _ = backend(torch.from_numpy(frames))
    assert backend.current_name() == "eager"
    trt_note, compile_note = backend.notes()
    assert "TensorRT build failed, using compile" in trt_note and "aten.foo" in trt_note
    assert "torch.compile failed" in compile_note and "Inductor gave up" in compile_note
    assert max_diff(out.numpy(), reference_upscale(net, frames)) <= 1
