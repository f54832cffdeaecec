"""A non-editable install ships every package: each folder with an __init__.py is listed in setup.cfg."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    for top in ("repsr_video", "train"):
        for init in (ROOT / top).rglob("__init__.py"):
            name = ".".join(init.parent.relative_to(ROOT).parts)
            assert name in listed, f"{name} is not in setup.cfg [options] packages: a non-editable install would miss it"
    assert "repsr_video.shipped_presets" in listed and (ROOT / "presets" / "__init__.py").is_file()
