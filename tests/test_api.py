"""The public API of `import repsr_video`: every exported name resolves, the import stays light, and it upscales."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys

import pytest
from PIL import Image

import repsr_video
from media_factory import frame_pixels
from repsr_video import errors


def _loaded_after(code: str) -> set[str]:
    """Top-level modules loaded by a fresh interpreter after running `code`."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_every_exported_name_resolves():
    for name in repsr_video.__all__:
        value = getattr(repsr_video, name)
        if name != "__version__":
            assert value.__name__ == name, f"repsr_video.{name} resolved to {value!r}"
    assert set(repsr_video.__all__) <= set(dir(repsr_video))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        repsr_video.nope  # noqa: B018 (the access itself is the test)
    assert not hasattr(repsr_video, "temporary_path")  # internals stay out of the package namespace


def test_every_error_class_is_exported():
    defined = {name for name, value in vars(errors).items() if inspect.isclass(value) and issubclass(value, errors.RepsrError)}
    assert defined <= set(repsr_video.__all__)


def test_type_checking_imports_match_the_lazy_table():
    """Type checkers read the TYPE_CHECKING imports, the runtime reads _LAZY: they must name the same things."""
    tree = ast.parse(inspect.getsource(repsr_video))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    imported = {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert imported == repsr_video._LAZY


def test_import_does_not_load_torch_or_av():
    loaded = _loaded_after("import repsr_video")
    assert "repsr_video" in loaded and not loaded & {"torch", "av", "numpy"}
    # the engine module itself is torch-free (OpenVINO runs without it); the torch engine loads torch
    assert "torch" not in _loaded_after("import repsr_video; repsr_video.create_engine")
    assert "torch" in _loaded_after("import repsr_video.engine; repsr_video.engine.Engine")


def test_upscale_image_through_the_public_api(tiny_preset, tmp_path):
    Image.fromarray(frame_pixels(0, 16, 12)).save(tmp_path / "in.png")
    preset = repsr_video.load_preset(tiny_preset.path)
    engine = repsr_video.create_engine(preset, repsr_video.EngineSettings(device="cpu", backend="eager"))
    result = repsr_video.upscale_image(tmp_path / "in.png", tmp_path / "out.png", engine)
    assert isinstance(result, repsr_video.FileResult) and result.status == "done" and result.frames == 1
    assert Image.open(tmp_path / "out.png").size == (32, 24)
    with pytest.raises(repsr_video.OutputError, match="exists"):
        repsr_video.upscale_image(tmp_path / "in.png", tmp_path / "out.png", engine)
