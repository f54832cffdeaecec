"""Shared fixtures; GPU cases carry the `cuda` marker and are skipped where no GPU exists."""

from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_user_presets(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's own preset folder."""
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(tmp_path_factory.mktemp("user-presets")))


@pytest.fixture
def tiny_preset(tmp_path):
    """A real (random-weight) M1C4 x2 preset written and read back through the preset format."""
    from repsr_video.network import SRNet
    from repsr_video.preset import load_preset
    from repsr_video.train.preset import write_preset

    torch.manual_seed(0)
    path = write_preset(SRNet(2, 1, 4), tmp_path / "presets", name="tiny-x2", description="test preset")
    return load_preset(path)
