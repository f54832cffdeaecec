"""A non-editable install ships every package under repsr_video: nothing generic lands in site-packages."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _options() -> configparser.SectionProxy:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["options"]


def test_every_package_is_listed_in_setup_cfg():
    listed = set(_options()["packages"].split())
    for folder, package in (("repsr_video", "repsr_video"), ("train", "repsr_video.train")):
        for init in (ROOT / folder).rglob("__init__.py"):
            name = ".".join((package, *init.parent.relative_to(ROOT / folder).parts))
            assert name in listed, f"{name} is not in setup.cfg [options] packages: a non-editable install would miss it"
    assert "repsr_video.shipped_presets" in listed and (ROOT / "presets" / "__init__.py").is_file()


def test_only_the_repsr_video_namespace_is_installed():
    options = _options()
    assert all(name.split(".")[0] == "repsr_video" for name in options["packages"].split())
    assert "py_modules" not in options


def test_the_cli_is_installed_as_repsr_video_cli():
    link = ROOT / "repsr_video" / "cli.py"
    assert link.is_symlink() and link.resolve() == (ROOT / "cli.py").resolve()
