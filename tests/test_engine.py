"""Engine: settings validation, exactness against SRNet, dtypes, batching, clamping, fp16 overflow,
compile fallback. Tiny nets and frames; one real torch.compile run. TensorRT: test_tensorrt_backend.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine_helpers import failing_compile, fp16_overflowing_net, max_diff, random_frames, reference_upscale, tiny_net
from repsr_video.backends import Backend, compiled
from repsr_video.backends.eager import EagerBackend
from repsr_video.engine import EngineSettings, create_engine, create_engine_for_network
from repsr_video.errors import EngineError

CPU_EAGER = EngineSettings(device="cpu", backend="eager")


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"device": "gpu"}, ["'auto'", "'cpu'", "'cuda'"]),
        ({"backend": "onnx"}, ["'tensorrt'", "'compile'", "'eager'"]),
        ({"batch": -1}, ["batch"]),
        ({"batch": 2.5}, ["batch"]),
    ],
)
def test_settings_reject_unknown_values_listing_allowed_ones(kwargs, words):
    with pytest.raises(EngineError) as error:
        EngineSettings(**kwargs)
    for word in words:
        assert word in str(error.value)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EngineSettings().device = "cpu"  # type: ignore[misc]


def test_cuda_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(EngineError, match="no CUDA GPU"):
        create_engine_for_network(tiny_net(), EngineSettings(device="cuda"))


# --- exactness, dtypes, shapes -------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_eager_fp32_matches_srnet_forward(scale, dtype):
    net = tiny_net(scale)
    engine = create_engine_for_network(net, CPU_EAGER, precision="fp32")
    frames = random_frames(2, 13, 17, dtype)
    out = engine.upscale(frames)
    assert out.shape == (2, 13 * scale, 17 * scale, 3) and out.dtype == dtype
    assert engine.scale == scale and engine.device == "cpu" and engine.backend == "eager"
    # Same math in a different order (skip added outside the residual): at most a rounding tie apart.
    assert max_diff(out, reference_upscale(net, frames)) <= 1


def test_uint16_full_range_survives_the_int16_transport():
    """Values above 32767 travel as negative int16; they must come back exactly, not wrapped."""
    net = tiny_net()
    with torch.no_grad():  # identity net: residual 0, output = nearest-neighbour upscale
        for p in net.parameters():
            p.zero_()
    frames = np.array([0, 1, 32767, 32768, 40000, 65534, 65535] * 3, dtype=np.uint16).reshape(1, 1, 7, 3)
    out = create_engine_for_network(net, CPU_EAGER, precision="fp32").upscale(frames)
    assert np.array_equal(out, frames.repeat(2, axis=1).repeat(2, axis=2))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_any_frame_count_with_partial_batches(n):
    net = tiny_net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=3), precision="fp32")
    assert engine.batch == 3
    frames = random_frames(n, 8, 6, seed=n)
    out = engine.upscale(frames)
    assert out.shape == (n, 16, 12, 3)
    assert max_diff(out, reference_upscale(net, frames)) <= 1  # order kept, nothing dropped or duplicated


def test_one_engine_serves_many_shapes_and_dtypes():
    net = tiny_net()
    engine = create_engine_for_network(net, CPU_EAGER, precision="fp32")
    for h, w, dtype in [(8, 8, np.uint8), (9, 15, np.uint16), (8, 8, np.uint8), (31, 5, np.uint8)]:
        frames = random_frames(2, h, w, dtype)
        assert max_diff(engine.upscale(frames), reference_upscale(net, frames)) <= 1


def test_non_contiguous_input_is_accepted():
    net = tiny_net()
    frames = random_frames(3, 10, 12)[:, ::-1]  # negative stride view, as numpy slicing produces
    out = create_engine_for_network(net, CPU_EAGER, precision="fp32").upscale(frames)
    assert max_diff(out, reference_upscale(net, np.ascontiguousarray(frames))) <= 1


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 8, 8, 3), np.float32),
        np.zeros((8, 8, 3), np.uint8),
        np.zeros((0, 8, 8, 3), np.uint8),
        np.zeros((1, 8, 8, 4), np.uint8),
        np.zeros((1, 0, 8, 3), np.uint8),
    ],
)
def test_bad_frames_are_engine_errors(bad):
    with pytest.raises(EngineError):
        create_engine_for_network(tiny_net(), CPU_EAGER).upscale(bad)


@pytest.mark.parametrize("bias, expected", [(10.0, (255, 65535)), (-10.0, (0, 0))])
def test_output_is_clamped_to_the_valid_range(bias, expected):
    net = tiny_net()
    with torch.no_grad():
        net.tail.bias.fill_(bias)
    engine = create_engine_for_network(net, CPU_EAGER)
    assert (engine.upscale(random_frames(1, 6, 6)) == expected[0]).all()
    assert (engine.upscale(random_frames(1, 6, 6, np.uint16)) == expected[1]).all()


# --- low precision ------------------------------------------------------------------------------


def _smooth_frames(n=2, h=24, w=32) -> np.ndarray:
    """Gradients, like real images, rather than noise."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w, y / h, (x + y) / (w + h)], axis=-1)
    return np.stack([(base * 255 * (0.5 + 0.5 * i / n)).round().astype(np.uint8) for i in range(n)])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_stays_within_a_level_or_two_of_fp32(precision):
    net = tiny_net(blocks=2, channels=8)
    frames = _smooth_frames()
    fp32 = create_engine_for_network(net, CPU_EAGER, precision="fp32").upscale(frames)
    low = create_engine_for_network(net, CPU_EAGER, precision=precision)
    out = low.upscale(frames)
    assert low.precision == precision and low.fp32_retries == 0
    assert max_diff(out, fp32) <= 2
    assert np.mean(out != fp32) < 0.1




def test_fp16_overflow_is_recomputed_in_fp32_never_black_or_nan():
    net = fp16_overflowing_net()
    frames = _smooth_frames() // 2 + 64
    # The construction really overflows: a plain half-precision forward gives non-finite values.
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        assert not torch.isfinite(net.half()(x.half())).all()
    net = net.float()
    reference = reference_upscale(net, frames)
    assert reference.max() > 100  # a bright, ordinary image in fp32
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=1), precision="fp16")
    out = engine.upscale(frames)
    assert engine.fp32_retries == len(frames)
    assert max_diff(out, reference) <= 1


# --- backends -------------------------------------------------------------------------------------


def test_auto_on_cpu_never_picks_tensorrt():
    engine = create_engine_for_network(tiny_net(), EngineSettings(device="cpu"))
    assert engine.backend in ("openvino", "compile", "eager")
    assert engine.batch >= 1


@pytest.mark.parametrize("backend", ["eager", "compile"])
def test_the_engine_runs_a_declared_backend(backend):
    engine = create_engine_for_network(tiny_net(), EngineSettings(device="cpu", backend=backend))
    runner = engine._runner
    assert isinstance(runner, Backend)
    assert runner.name in (("eager",) if backend == "eager" else ("eager", "compile"))
    assert all(isinstance(note, str) and note for note in runner.notes())


def test_the_backend_protocol_is_checked_not_assumed():
    class NoNotes:  # what a backend without a way to report its fallback looks like
        name, note = "x", ""

        def current_name(self):
            return self.name

        def __call__(self, raw):
            return raw, torch.tensor(True)

    assert not isinstance(NoNotes(), Backend)


def test_a_failed_compile_reports_through_its_own_notes_and_names_eager(monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    monkeypatch.setattr(torch, "compile", failing_compile("C++ compile error (test)"))
    eager = EagerBackend(create_engine_for_network(tiny_net(), CPU_EAGER, precision="fp32")._runner.graphs)
    backend = compiled.CompiledBackend(eager, torch.device("cpu"))
    assert isinstance(backend, Backend) and backend.notes() == [] and backend.current_name() == "compile"
    backend(torch.from_numpy(random_frames(1, 6, 6)))
    assert backend.current_name() == "eager"
    (note,) = backend.notes()
    assert "torch.compile failed" in note and "C++ compile error" in note


def test_compile_falls_back_to_eager_when_the_toolchain_is_missing(monkeypatch):
    monkeypatch.setattr("repsr_video.torch_engine.compiler_problem", lambda device: "no C++ compiler found (test)")
    net = tiny_net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
    frames = random_frames(2, 7, 9)
    assert max_diff(engine.upscale(frames), reference_upscale(net, frames)) <= 1
    assert engine.backend == "eager"
    assert any("no C++ compiler" in note for note in engine.notes)


def test_compile_failure_at_first_call_falls_back_and_records_why(monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    monkeypatch.setattr(torch, "compile", failing_compile("InductorError: C++ compile error (test)"))
    net = tiny_net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
    assert engine.backend == "compile"
    frames = random_frames(3, 7, 9)
    assert max_diff(engine.upscale(frames), reference_upscale(net, frames)) <= 1
    assert engine.backend == "eager"
    assert any("C++ compile error" in note for note in engine.notes)


def test_a_really_missing_compiler_is_found_up_front_or_at_the_first_call(monkeypatch):
    """Inductor pointed at a compiler that does not exist, as on a machine without g++."""
    import torch._inductor.config as inductor_config

    # Inductor's own patch(): monkeypatch's undo would delete (hide) the config entry instead of restoring it.
    with inductor_config.patch({"cpp.cxx": (None, "/nonexistent/g++")}):
        net = tiny_net()
        frames = random_frames(2, 7, 9)
        engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
        assert engine.backend == "eager" and any("C++ compiler" in note for note in engine.notes)
        # Had the check missed it, the first compiled call fails, and the engine still answers correctly.
        monkeypatch.setattr("repsr_video.torch_engine.compiler_problem", lambda device: None)
        monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
        engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
        assert max_diff(engine.upscale(frames), reference_upscale(net, frames)) <= 1
        assert engine.backend == "eager" and any("torch.compile failed" in note for note in engine.notes)


def test_torch_compile_runs_and_matches_eager_with_partial_batches(monkeypatch):
    """One real compile (a few seconds on CPU): static shapes, padded last batch, same pixels."""
    problem = compiled.compiler_problem(torch.device("cpu"))
    if problem:
        pytest.skip(f"no C++ compiler for torch.compile: {problem}")
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)  # compile at once, in this thread
    net = tiny_net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile", batch=2), precision="fp32")
    frames = random_frames(5, 12, 10)
    reference = reference_upscale(net, frames)
    first = engine.upscale(frames)  # compiled batches of 2, the last one padded
    second = engine.upscale(frames[:3])
    assert engine.backend == "compile", engine.notes
    assert engine._runner._ready, "nothing was compiled"
    assert max_diff(first, reference) <= 1 and max_diff(second, reference[:3]) <= 1


def test_create_engine_from_a_preset(tiny_preset):
    engine = create_engine(tiny_preset, EngineSettings(device="cpu", backend="eager"))
    frames = random_frames(2, 9, 11)
    assert engine.scale == tiny_preset.scale
    assert max_diff(engine.upscale(frames), reference_upscale(tiny_preset.build_network(), frames)) <= 2


# --- GPU (skipped without CUDA) -------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["eager", "compile"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_cuda_fp16_matches_cpu_fp32(backend, dtype, monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    net = tiny_net(blocks=2, channels=8)
    engine = create_engine_for_network(net, EngineSettings(device="cuda", backend=backend, batch=2))
    assert engine.device == "cuda" and engine.precision == "fp16"
    frames = (_smooth_frames(3).astype(dtype) * (257 if dtype == np.uint16 else 1)).astype(dtype)
    out = engine.upscale(frames)
    engine.upscale(frames)  # second call reuses pinned buffers and the compiled graph
    tolerance = 2 if dtype == np.uint8 else 2 * 257
    assert max_diff(out, reference_upscale(net, frames)) <= tolerance
    assert engine.backend == backend, engine.notes


@pytest.mark.cuda
def test_cuda_fp16_overflow_is_recomputed():
    net = fp16_overflowing_net()
    frames = _smooth_frames() // 2 + 64
    engine = create_engine_for_network(net, EngineSettings(device="cuda", backend="eager", batch=2))
    out = engine.upscale(frames)
    assert engine.fp32_retries == len(frames)
    assert max_diff(out, reference_upscale(net, frames)) <= 1
