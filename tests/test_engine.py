"""Engine: settings validation, exactness against SRNet, dtypes, batching, clamping, fp16 overflow,
compile fallback, TensorRT guard. Tiny nets and frames; one real torch.compile run."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from repsr_video.backends import compiled
from repsr_video.backends.tensorrt import engine_path, tensorrt_problem
from repsr_video.engine import EngineSettings, create_engine, create_engine_for_network
from repsr_video.errors import EngineError
from repsr_video.network import SRNet

CPU_EAGER = EngineSettings(device="cpu", backend="eager")


def _net(scale=2, blocks=1, channels=4, seed=0) -> SRNet:
    torch.manual_seed(seed)
    net = SRNet(scale, blocks, channels).eval()
    with torch.no_grad():  # small random residual, like a trained net
        net.tail.weight.mul_(0.3)
    return net


def _reference(net: SRNet, frames: np.ndarray) -> np.ndarray:
    """SRNet's own forward in fp32, clamped and rounded: what every engine must reproduce."""
    full = 65535.0 if frames.dtype == np.uint16 else 255.0
    x = torch.from_numpy(frames.astype(np.float32)).permute(0, 3, 1, 2) / full
    with torch.no_grad():
        y = net(x).clamp(0, 1).mul(full).round().permute(0, 2, 3, 1).numpy()
    return y.astype(frames.dtype)


def _frames(n, h, w, dtype=np.uint8, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 65536 if dtype == np.uint16 else 256
    return rng.integers(0, top, (n, h, w, 3)).astype(dtype)


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


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
    with pytest.raises(Exception):
        EngineSettings().device = "cpu"  # type: ignore[misc]


def test_cuda_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(EngineError, match="no CUDA GPU"):
        create_engine_for_network(_net(), EngineSettings(device="cuda"))


# --- exactness, dtypes, shapes -------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_eager_fp32_matches_srnet_forward(scale, dtype):
    net = _net(scale)
    engine = create_engine_for_network(net, CPU_EAGER, precision="fp32")
    frames = _frames(2, 13, 17, dtype)
    out = engine.upscale(frames)
    assert out.shape == (2, 13 * scale, 17 * scale, 3) and out.dtype == dtype
    assert engine.scale == scale and engine.device == "cpu" and engine.backend == "eager"
    # Same math in a different order (skip added outside the residual): at most a rounding tie apart.
    assert _max_diff(out, _reference(net, frames)) <= 1


def test_uint16_full_range_survives_the_int16_transport():
    """Values above 32767 travel as negative int16; they must come back exactly, not wrapped."""
    net = _net()
    with torch.no_grad():  # identity net: residual 0, output = nearest-neighbour upscale
        for p in net.parameters():
            p.zero_()
    frames = np.array([0, 1, 32767, 32768, 40000, 65534, 65535] * 3, dtype=np.uint16).reshape(1, 1, 7, 3)
    out = create_engine_for_network(net, CPU_EAGER, precision="fp32").upscale(frames)
    assert np.array_equal(out, frames.repeat(2, axis=1).repeat(2, axis=2))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_any_frame_count_with_partial_batches(n):
    net = _net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=3), precision="fp32")
    assert engine.batch == 3
    frames = _frames(n, 8, 6, seed=n)
    out = engine.upscale(frames)
    assert out.shape == (n, 16, 12, 3)
    assert _max_diff(out, _reference(net, frames)) <= 1  # order kept, nothing dropped or duplicated


def test_one_engine_serves_many_shapes_and_dtypes():
    net = _net()
    engine = create_engine_for_network(net, CPU_EAGER, precision="fp32")
    for h, w, dtype in [(8, 8, np.uint8), (9, 15, np.uint16), (8, 8, np.uint8), (31, 5, np.uint8)]:
        frames = _frames(2, h, w, dtype)
        assert _max_diff(engine.upscale(frames), _reference(net, frames)) <= 1


def test_non_contiguous_input_is_accepted():
    net = _net()
    frames = _frames(3, 10, 12)[:, ::-1]  # negative stride view, as numpy slicing produces
    out = create_engine_for_network(net, CPU_EAGER, precision="fp32").upscale(frames)
    assert _max_diff(out, _reference(net, np.ascontiguousarray(frames))) <= 1


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
        create_engine_for_network(_net(), CPU_EAGER).upscale(bad)


@pytest.mark.parametrize("bias, expected", [(10.0, (255, 65535)), (-10.0, (0, 0))])
def test_output_is_clamped_to_the_valid_range(bias, expected):
    net = _net()
    with torch.no_grad():
        net.tail.bias.fill_(bias)
    engine = create_engine_for_network(net, CPU_EAGER)
    assert (engine.upscale(_frames(1, 6, 6)) == expected[0]).all()
    assert (engine.upscale(_frames(1, 6, 6, np.uint16)) == expected[1]).all()


# --- low precision ------------------------------------------------------------------------------


def _smooth_frames(n=2, h=24, w=32) -> np.ndarray:
    """Gradients, like real images, rather than noise."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w, y / h, (x + y) / (w + h)], axis=-1)
    return np.stack([(base * 255 * (0.5 + 0.5 * i / n)).round().astype(np.uint8) for i in range(n)])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_stays_within_a_level_or_two_of_fp32(precision):
    net = _net(blocks=2, channels=8)
    frames = _smooth_frames()
    fp32 = create_engine_for_network(net, CPU_EAGER, precision="fp32").upscale(frames)
    low = create_engine_for_network(net, CPU_EAGER, precision=precision)
    out = low.upscale(frames)
    assert low.precision == precision and low.fp32_retries == 0
    assert _max_diff(out, fp32) <= 2
    assert np.mean(out != fp32) < 0.1


def _fp16_overflowing_net() -> SRNet:
    """A net whose fp32 output is ordinary but whose hidden activations exceed fp16's 65504."""
    net = _net(blocks=1, channels=4)
    with torch.no_grad():
        net.head.weight.fill_(400.0)  # 27 taps x 400 x ~0.5 = ~5400 in the head
        net.head.bias.zero_()
        net.body[0].weight.fill_(20.0)  # 36 taps x 20 x ~5400 = ~3.9e6 in the body: inf in fp16
        net.body[0].bias.zero_()
        net.tail.weight.fill_(1e-8)  # ... brought back to ~1e-1 by the tail
        net.tail.bias.zero_()
    return net


def test_fp16_overflow_is_recomputed_in_fp32_never_black_or_nan():
    net = _fp16_overflowing_net()
    frames = _smooth_frames() // 2 + 64
    # The construction really overflows: a plain half-precision forward gives non-finite values.
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        assert not torch.isfinite(net.half()(x.half())).all()
    net = net.float()
    reference = _reference(net, frames)
    assert reference.max() > 100  # a bright, ordinary image in fp32
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=1), precision="fp16")
    out = engine.upscale(frames)
    assert engine.fp32_retries == len(frames)
    assert _max_diff(out, reference) <= 1


# --- backends -------------------------------------------------------------------------------------


def test_auto_on_cpu_never_picks_tensorrt():
    engine = create_engine_for_network(_net(), EngineSettings(device="cpu"))
    assert engine.backend in ("compile", "eager")
    assert engine.batch >= 1


def test_tensorrt_backend_is_refused_with_a_clear_message_where_it_cannot_run():
    with pytest.raises(EngineError, match="tensorrt|TensorRT"):
        create_engine_for_network(_net(), EngineSettings(device="cpu", backend="tensorrt"))


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


def test_compile_falls_back_to_eager_when_the_toolchain_is_missing(monkeypatch):
    monkeypatch.setattr("repsr_video.engine.compiler_problem", lambda device: "no C++ compiler found (test)")
    net = _net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
    frames = _frames(2, 7, 9)
    assert _max_diff(engine.upscale(frames), _reference(net, frames)) <= 1
    assert engine.backend == "eager"
    assert any("no C++ compiler" in note for note in engine.notes)


def test_compile_failure_at_first_call_falls_back_and_records_why(monkeypatch):
    def broken_compile(module, **kwargs):
        def run(*args):
            raise RuntimeError("InductorError: C++ compile error (test)")

        return run

    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    monkeypatch.setattr(torch, "compile", broken_compile)
    net = _net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
    assert engine.backend == "compile"
    frames = _frames(3, 7, 9)
    assert _max_diff(engine.upscale(frames), _reference(net, frames)) <= 1
    assert engine.backend == "eager"
    assert any("C++ compile error" in note for note in engine.notes)


def test_a_really_missing_compiler_is_found_up_front_or_at_the_first_call(monkeypatch):
    """Inductor pointed at a compiler that does not exist, as on a machine without g++."""
    import torch._inductor.config as inductor_config

    # Inductor's own patch(): monkeypatch's undo would delete (hide) the config entry instead of restoring it.
    with inductor_config.patch({"cpp.cxx": (None, "/nonexistent/g++")}):
        net = _net()
        frames = _frames(2, 7, 9)
        engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
        assert engine.backend == "eager" and any("C++ compiler" in note for note in engine.notes)
        # Had the check missed it, the first compiled call fails, and the engine still answers correctly.
        monkeypatch.setattr("repsr_video.engine.compiler_problem", lambda device: None)
        monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
        engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
        assert _max_diff(engine.upscale(frames), _reference(net, frames)) <= 1
        assert engine.backend == "eager" and any("torch.compile failed" in note for note in engine.notes)


def test_torch_compile_runs_and_matches_eager_with_partial_batches(monkeypatch):
    """One real compile (a few seconds on CPU): static shapes, padded last batch, same pixels."""
    problem = compiled.compiler_problem(torch.device("cpu"))
    if problem:
        pytest.skip(f"no C++ compiler for torch.compile: {problem}")
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 2)
    net = _net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile", batch=2), precision="fp32")
    frames = _frames(5, 12, 10)
    reference = _reference(net, frames)
    first = engine.upscale(frames)  # batch 1 eager, then compiled: padded partial batch at the end
    second = engine.upscale(frames[:3])
    assert engine.backend == "compile", engine.notes
    assert engine._runner._ready, "nothing was compiled"
    assert _max_diff(first, reference) <= 1 and _max_diff(second, reference[:3]) <= 1


def test_create_engine_from_a_preset(tiny_preset):
    engine = create_engine(tiny_preset, EngineSettings(device="cpu", backend="eager"))
    frames = _frames(2, 9, 11)
    assert engine.scale == tiny_preset.scale
    assert _max_diff(engine.upscale(frames), _reference(tiny_preset.build_network(), frames)) <= 2


# --- GPU (skipped without CUDA) -------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["eager", "compile"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_cuda_fp16_matches_cpu_fp32(backend, dtype, monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    net = _net(blocks=2, channels=8)
    engine = create_engine_for_network(net, EngineSettings(device="cuda", backend=backend, batch=2))
    assert engine.device == "cuda" and engine.precision == "fp16"
    frames = (_smooth_frames(3).astype(dtype) * (257 if dtype == np.uint16 else 1)).astype(dtype)
    out = engine.upscale(frames)
    engine.upscale(frames)  # second call reuses pinned buffers and the compiled graph
    tolerance = 2 if dtype == np.uint8 else 2 * 257
    assert _max_diff(out, _reference(net, frames)) <= tolerance
    assert engine.backend == backend, engine.notes


@pytest.mark.cuda
def test_cuda_fp16_overflow_is_recomputed():
    net = _fp16_overflowing_net()
    frames = _smooth_frames() // 2 + 64
    engine = create_engine_for_network(net, EngineSettings(device="cuda", backend="eager", batch=2))
    out = engine.upscale(frames)
    assert engine.fp32_retries == len(frames)
    assert _max_diff(out, _reference(net, frames)) <= 1


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
    monkeypatch.setattr(trt, "engine_key", lambda model_key, shape, device: {
        "model_sha256": model_key, "input_shape": "x".join(map(str, shape)), "gpu": "test"})

    def install(fail=False):
        fake = _FakeTorchTensorRT(fail)
        monkeypatch.setitem(__import__("sys").modules, "torch_tensorrt", fake)
        return fake

    return install


def _trt_backend(net, fallback=None):
    from repsr_video.backends.graph import FrameGraph, Residual
    from repsr_video.backends.tensorrt import TensorRTBackend

    residual = Residual(copy.deepcopy(net)).eval().half()
    factory = lambda r, wire: FrameGraph(r, net.scale, torch.half, wire, 255.0 if wire == torch.uint8 else 65535.0)  # noqa: E731
    return TensorRTBackend(residual, net.scale, torch.device("cpu"), "ab" * 32, factory, fallback)


def test_tensorrt_builds_half_static_engines_and_reuses_them_from_disk(fake_trt, tmp_path):
    fake = fake_trt()
    net = _net()
    frames = torch.from_numpy(_frames(2, 8, 10))
    out, finite = _trt_backend(net)(frames)
    assert bool(finite) and out.shape == (2, 16, 20, 3)
    assert _max_diff(out.numpy(), _reference(net, frames.numpy())) <= 2
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


def test_tensorrt_build_failure_falls_back_and_records_why(fake_trt):
    from repsr_video.backends.eager import EagerBackend

    fake_trt(fail=True)
    net = _net()
    eager = EagerBackend(create_engine_for_network(net, CPU_EAGER, precision="fp32")._runner.graphs)
    backend = _trt_backend(net, fallback=eager)
    frames = _frames(1, 8, 8)
    out, _ = backend(torch.from_numpy(frames))
    assert backend.current_name() == "eager" and "aten.foo" in backend.note
    assert _max_diff(out.numpy(), _reference(net, frames)) <= 1
