"""Device-aware default presets: the fast net on CPU, its strong sibling on CUDA (where installed)."""

from __future__ import annotations

import torch

from repsr_video.network import SRNet
from repsr_video.preset import default_preset
from repsr_video.train.preset import write_preset


def test_shipped_defaults_per_device():
    assert default_preset(2).name == "general-x2-fast" and default_preset(4).name == "general-x4-fast"
    assert default_preset(2, device="cuda").name == "general-x2"
    assert default_preset(4, device="cuda:1").name == "general-x4"
    assert default_preset(2, device="cpu").name == "general-x2-fast"


def test_a_fast_default_without_a_strong_sibling_stays(tmp_path, monkeypatch):
    user = tmp_path / "presets"
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(user))
    torch.manual_seed(0)
    write_preset(SRNet(3, 1, 4), user, name="only-x3-fast", description="test", default=True)
    assert default_preset(3, device="cuda").name == "only-x3-fast"
    write_preset(SRNet(3, 2, 8), user, name="only-x3", description="test")
    assert default_preset(3, device="cuda").name == "only-x3"
    assert default_preset(3).name == "only-x3-fast"
