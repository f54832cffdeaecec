"""`repsr-video bench CLIP`: its arguments, the engine it measures and the tables it prints.

cli.py registers it; the measuring itself is repsr_video/bench.py.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from repsr_video.choices import DEFAULT_SCALE
from repsr_video.cli_arguments import (
    add_encoding_arguments,
    add_model_arguments,
    apply_threads,
    chosen_preset,
    encode_settings,
    engine_settings,
)

if TYPE_CHECKING:
    from repsr_video.bench import BenchReport, MemoryRow
    from repsr_video.engine_base import TiledEngine

console = Console(stderr=True)


def bench_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("clip", help="video clip to measure on (looped when shorter than --frames)")
    sub.add_argument("--frames", type=int, default=200, help="frames per stage (default 200)")
    add_model_arguments(sub, random_size=True)
    add_encoding_arguments(sub)
    sub.add_argument("--memory-check", action="store_true",
                     help="instead: run the whole pipeline over 100 and 1000 frames and compare peak memory")
    sub.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _bench_engine(args: argparse.Namespace) -> tuple[TiledEngine, str]:
    """The engine to measure and how to name its model in the report."""
    from repsr_video.engine import create_engine, create_engine_for_network

    settings = engine_settings(args)
    if args.size:
        from repsr_video.network import SRNet, parse_size

        scale = args.scale or DEFAULT_SCALE
        net = SRNet(scale, *parse_size(args.size)).eval()
        return create_engine_for_network(net, settings), f"random {args.size} x{scale}"
    preset = chosen_preset(args)
    return create_engine(preset, settings), f"{preset.name} ({preset.size} x{preset.scale})"


def bench_command(args: argparse.Namespace) -> int:
    from repsr_video.bench import memory_check, run_bench

    apply_threads(args)
    engine, model = _bench_engine(args)
    encode = encode_settings(args)
    say = (lambda stage: None) if args.json else (lambda stage: console.print(f"bench: {stage}...", markup=False))
    if args.memory_check:
        rows = memory_check(args.clip, engine, encode=encode, on_stage=say)
        if args.json:
            print(json.dumps([{**r.__dict__, "fps": round(r.fps, 2)} for r in rows], indent=2))
        else:
            _print_memory_table(rows, f"{model}, {engine.describe()}")
        return 0
    report = run_bench(args.clip, engine, frames=args.frames, encode=encode, on_stage=say)
    if args.json:
        print(json.dumps(report.as_dict() | {"model": model}, indent=2))
    else:
        _print_bench_report(report, model)
    return 0


def _print_memory_table(rows: Sequence[MemoryRow], model: str) -> None:
    table = Table(title=f"peak memory vs video length: {model}")
    for column in ("frames", "seconds", "fps", "RSS before MB", "peak RSS MB", "CUDA peak MB"):
        table.add_column(column, justify="right")
    for r in rows:
        cuda = "-" if r.cuda_peak_mb is None else f"{r.cuda_peak_mb:.0f}"
        table.add_row(str(r.frames), f"{r.seconds:.1f}", f"{r.fps:.1f}", f"{r.rss_before_mb:.0f}", f"{r.peak_rss_mb:.0f}", cuda)
    Console().print(table)


def _print_bench_report(report: BenchReport, model: str) -> None:
    from repsr_video.bench import GOAL

    table = Table(title=f"{report.clip}: {report.frames} frames {report.input_size} -> {report.output_size}",
                  caption=f"{model}; engine {report.engine} (warm-up {report.warmup_seconds:.1f} s); encoder {report.encoder}; "
                          f"end-to-end in {report.segments} segment(s)")
    for column in ("stage", "frames/s", "seconds", "peak RSS MB", "CUDA peak MB"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for s in report.stages:
        cuda = "-" if s.cuda_peak_mb is None else f"{s.cuda_peak_mb:.0f}"
        table.add_row(s.stage, f"{s.fps:.1f}", f"{s.seconds:.2f}", f"{s.peak_rss_mb:.0f}", cuda)
    Console().print(table)
    verdict = "meets" if report.ratio >= GOAL else "misses"
    Console().print(f"end-to-end = {report.ratio:.0%} of the slowest stage alone ({report.slowest.stage}); "
                    f"{verdict} the {GOAL:.0%} goal. Stages one after another would give {report.sequential_fps:.1f} fps "
                    f"(end-to-end = {report.end_to_end.fps / report.sequential_fps:.0%} of that)", highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False)
