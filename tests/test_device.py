"""resolve_device: the one place a device name becomes a torch device (engine and training use it)."""

from __future__ import annotations

import pytest
import torch

from repsr_video.engine import DEVICES, resolve_device
from repsr_video.errors import EngineError


def test_device_names_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="no CUDA GPU; use --device cpu"):
            resolve_device("cuda")


def test_an_unknown_device_name_is_refused_listing_the_allowed_ones():
    with pytest.raises(EngineError) as error:
        resolve_device("gpu")
    assert all(repr(name) in str(error.value) for name in DEVICES)
