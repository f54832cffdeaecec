"""repsr-video command line: argparse, settings objects, rich progress, and the one top-level catch.

`repsr-video INPUT OUTPUT [...]` upscales; `presets`, `train`, `eval` and `bench` are subcommands.
The library never prints: everything a person sees is rendered here.

Start-up stays light: choices come from repsr_video.choices (no torch, no PyAV), defaults from the
settings dataclasses when a command runs, and only the subcommand being run is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. With decode, encode and
# other processes sharing few cores, spinning threads starved each other: M4C16 x2 at 176x144 on a
# busy 2-core machine ran 4-6 frames/s with the default policy and 63-132 with PASSIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# SVT-AV1 logs through its own logger: errors only. Its banner and settings otherwise print twice per
# file (the output plan's trial encoder and the real one).
os.environ.setdefault("SVT_LOG", "1")

from rich.console import Console
from rich.table import Table

from repsr_video import __version__
from repsr_video.choices import (
    BACKENDS,
    DEFAULT_PRESET_SCALES,
    DEFAULT_SCALE,
    DEINTERLACE_MODES,
    DEVICES,
    ENCODERS,
    SCALES,
    YUV_PATH_MODES,
)
from repsr_video.errors import PresetWarning, RepsrError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from repsr_video.bench import BenchReport, MemoryRow
    from repsr_video.engine import EngineSettings
    from repsr_video.engine_base import TiledEngine as Engine
    from repsr_video.jobs import JobSettings, PresetEngine
    from repsr_video.jobs.engines import LazyEngine
    from repsr_video.output import FileResult
    from repsr_video.output_plan import EncodeSettings
    from repsr_video.pipeline import ProgressEvent
    from repsr_video.preset import Preset

console = Console(stderr=True)


# --- version and presets --------------------------------------------------------------------


def _versions() -> str:
    import av
    import torch

    try:
        import torch_tensorrt

        trt = torch_tensorrt.__version__
    except ImportError:
        trt = "absent"
    try:
        import openvino

        ov = openvino.__version__.split("-")[0]
    except ImportError:
        ov = "absent"
    return (f"repsr-video {__version__} (torch {torch.__version__}, av {av.__version__}, torch-tensorrt {trt}, "
            f"openvino {ov})")


class _VersionAction(argparse.Action):
    """--version: probes torch, PyAV, torch-tensorrt and OpenVINO only when asked (argparse's action needs the text up front)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(_versions())
        parser.exit()


def _presets_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _presets_command(args: argparse.Namespace) -> int:
    import json

    from repsr_video.preset import default_preset, installed_presets

    presets = installed_presets()
    if args.json:
        print(json.dumps([p.summary() for p in presets], indent=2))
        return 0
    table = Table(title="installed presets", caption="default: what --scale N picks on a CPU and on a CUDA GPU")
    for column in ("name", "scale", "size", "PSNR-Y gain", "default", "description"):
        table.add_column(column)
    defaults = {(p.scale, d): default_preset(p.scale, d).name for p in presets for d in ("cpu", "cuda")}
    for p in presets:
        gain = "-" if p.quality.mean_gain_db is None else f"{p.quality.mean_gain_db:+.2f} dB"
        where = ", ".join(d.upper() for d in ("cpu", "cuda") if defaults[(p.scale, d)] == p.name)
        table.add_row(p.name, f"x{p.scale}", p.size, gain, where, p.description)
    Console().print(table)
    if not presets:
        console.print("no presets installed; train one with `repsr-video train`")
    return 0


# --- model, engine and encoding arguments (shared by the upscale command and bench) --------------


def _add_model_arguments(parser: argparse.ArgumentParser, *, random_size: bool = False) -> None:
    """--preset/--scale and the engine settings; random_size adds --size (random weights, bench only)."""
    model = parser.add_argument_group("model")
    which = model.add_mutually_exclusive_group() if random_size else model
    which.add_argument("-p", "--preset", metavar="NAME|PATH",
                       help="installed preset name or path of a .toml; it sets the scale (a different --scale is ignored, "
                       "with a note)")
    if random_size:
        which.add_argument("--size", metavar="MxCy", help="random weights of this size, e.g. M4C16 (speed only)")
    scale_help = "the default preset of this scale" + (", or the scale for --size" if random_size else "")
    # Upscaling offers the scales a default preset ships for; random weights (bench --size) any the net supports.
    scales = SCALES if random_size else DEFAULT_PRESET_SCALES
    model.add_argument("-s", "--scale", type=int, choices=scales, help=f"{scale_help} (default {DEFAULT_SCALE})")
    # No defaults here: options not given are left out, so EngineSettings supplies its own.
    model.add_argument("--device", type=_device, metavar="|".join(DEVICES) + "|cuda:0,1",
                       help="where to run (auto: a CUDA GPU when torch sees one, else the CPU; cuda:1: that GPU; "
                       "cuda:0,1: one worker per listed GPU)")
    model.add_argument("--backend", choices=BACKENDS,
                       help="auto: on a GPU TensorRT where installed, else torch.compile; on the CPU OpenVINO where installed, "
                       "else torch.compile; eager: plain torch, no warm-up")
    model.add_argument("--batch", type=int, metavar="N", help="frames per batch (0: chosen for the device)")
    model.add_argument("--tile", type=int, metavar="N",
                       help="cut frames into N x N-pixel tiles with exact seams (0: never; default: only frames too "
                       "large for the memory budget)")
    model.add_argument("--threads", type=int, metavar="N", help="CPU threads for the network (default: torch's, one per core)")


def _add_encoding_arguments(parser: argparse.ArgumentParser) -> None:
    """The encoder settings; options not given are left out, so EncodeSettings supplies its defaults."""
    enc = parser.add_argument_group("encoding (FFmpeg names)")
    enc.add_argument("-c:v", "-c", "--codec", dest="codec", metavar="NAME",
                     help="video encoder: libx264 (default; libvpx-vp9 for .webm), libx265, libsvtav1, h264_nvenc, ...")
    enc.add_argument("-crf", "--crf", dest="crf", type=int, metavar="N",
                     help="constant quality, checked per encoder (default 18 for libx264: 0..51)")
    enc.add_argument("-preset", "--encoder-preset", dest="encoder_preset", metavar="NAME",
                     help="encoder speed preset, checked per encoder: veryfast, medium, slow (x264/x265), 0..13 (SVT-AV1), ...")
    enc.add_argument("-pix_fmt", "--pix-fmt", dest="pix_fmt", metavar="FMT",
                     help="output pixel format (default: the input's layout and bit depth)")
    enc.add_argument("--encoder", choices=ENCODERS, help="encode in-process (pyav) or in a separate ffmpeg process (ffmpeg)")
    enc.add_argument("--deinterlace", choices=DEINTERLACE_MODES,
                     help="FFmpeg's bwdif before upscaling, one frame per frame: auto (frames flagged interlaced), on (every "
                     "frame), off (default: interlaced input is upscaled as is, with a note)")
    enc.add_argument("--yuv-path", choices=YUV_PATH_MODES,
                     help="4:2:0 frames cross to the GPU as YUV and are converted there: auto (default: on a CUDA torch "
                     "engine where input and output are 8-bit 4:2:0, no alpha, no tiling), on (also 10-bit, and on CPU), off")


def _add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """The other streams (ffmpeg's habit): copied where the output holds them, else converted or left out."""
    streams = parser.add_argument_group("audio, subtitles, data (copied where the output can hold them)")
    streams.add_argument("--audio-codec", metavar="NAME",
                         help="copy (default where it fits), or convert audio, e.g. aac, opus, flac (default for .mp4/.mov: aac, "
                         ".webm/.mkv: opus, when the audio cannot be copied)")
    streams.add_argument("--subtitle-codec", metavar="NAME",
                         help="copy (default where it fits), or convert text subtitles: mov_text, webvtt, srt")
    streams.add_argument("-an", dest="no_audio", action="store_true", default=None, help="leave audio out")
    streams.add_argument("-sn", dest="no_subtitles", action="store_true", default=None, help="leave subtitles out")
    streams.add_argument("-dn", dest="no_data", action="store_true", default=None, help="leave data streams out quietly")


def _given(args: argparse.Namespace, fields: dict[str, str]) -> dict[str, Any]:
    """{settings field: value} for each option the user gave (fields maps settings field -> argparse dest)."""
    return {field: getattr(args, dest) for field, dest in fields.items() if getattr(args, dest) is not None}


def _engine_settings(args: argparse.Namespace) -> EngineSettings:
    from repsr_video.engine import EngineSettings

    given = _given(args, {"device": "device", "backend": "backend", "batch": "batch", "tile": "tile"})
    if "device" in given:  # cuda:0,1: this process's engine on cuda:0, a worker per GPU (see _job_settings)
        from repsr_video.jobs.options import parse_devices

        given["device"] = parse_devices(given["device"])[0]
    return EngineSettings(**given)


def _device(text: str) -> str:
    from repsr_video.jobs.options import parse_devices

    try:
        parse_devices(text)
    except RepsrError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _time(text: str) -> str:
    from repsr_video.jobs.options import parse_time

    try:
        parse_time(text)
    except RepsrError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """Segments, resume, time range and parallel workers (docs/segments.md)."""
    from repsr_video.jobs.options import DEFAULT_SEGMENT_SECONDS

    job = parser.add_argument_group("long videos (a video runs as segments; the same command again resumes)")
    job.add_argument("-ss", "--start", type=_time, metavar="TIME", help="start here (FFmpeg's -ss: seconds or [HH:]MM:SS[.frac])")
    job.add_argument("-t", "--duration", type=_time, metavar="TIME", help="process this long from --start (FFmpeg's -t)")
    job.add_argument("--segment", type=float, metavar="SECONDS",
                     help=f"segment length, cut at source keyframes (default {DEFAULT_SEGMENT_SECONDS:g})")
    job.add_argument("--workers", type=int, metavar="N", help="segments in N processes (default 1; on CUDA, one per GPU)")
    job.add_argument("--ray", metavar="ADDRESS", help="run segments as Ray tasks: auto, ray://HOST:10001, or local")
    job.add_argument("--restart", action="store_true", help="discard saved work of an earlier run of this output")


def _job_settings(args: argparse.Namespace) -> JobSettings:
    """JobSettings from the options; on CUDA without --workers or a GPU list, one worker per GPU."""
    from repsr_video.jobs import JobSettings, TimeRange
    from repsr_video.jobs.options import parse_devices, parse_time

    kind, devices = parse_devices(args.device or "auto")
    if not devices and args.workers is None and not args.ray and kind in ("auto", "cuda"):  # one worker per GPU
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        devices = tuple(f"cuda:{i}" for i in range(count)) if count > 1 else ()
    time_range = TimeRange(parse_time(args.start) if args.start else None, parse_time(args.duration) if args.duration else None)
    given = {"segment_seconds": args.segment, "workers": args.workers}
    return JobSettings(**{k: v for k, v in given.items() if v is not None}, devices=devices, ray_address=args.ray,
                       restart=args.restart, time_range=time_range)


def _encode_settings(args: argparse.Namespace) -> EncodeSettings:
    from repsr_video.output_plan import EncodeSettings
    from repsr_video.streams import StreamSettings

    fields = {"codec": "codec", "crf": "crf", "preset": "encoder_preset", "pix_fmt": "pix_fmt", "encoder": "encoder",
              "deinterlace": "deinterlace", "yuv_path": "yuv_path"}
    stream_fields = {name: name for name in ("audio_codec", "subtitle_codec", "no_audio", "no_subtitles", "no_data")}
    streams = StreamSettings(**_given(args, stream_fields)) if hasattr(args, "audio_codec") else StreamSettings()
    return EncodeSettings(**_given(args, fields), streams=streams)


def _device_type(args: argparse.Namespace) -> str:
    """The device type ("cpu" or "cuda") the engine will run on, for the device-aware default preset."""
    device = getattr(args, "device", None) or "auto"
    if device != "auto":
        return device
    from repsr_video.engine import device_kind

    return device_kind(device)


def _preset(args: argparse.Namespace) -> Preset:
    """The preset named by --preset, else the default one of --scale. --preset wins: a different --scale
    is ignored with a note (printed unless --quiet/--json)."""
    from repsr_video.preset import default_preset, load_preset

    preset = load_preset(args.preset) if args.preset else default_preset(args.scale or DEFAULT_SCALE, _device_type(args))
    if args.preset and args.scale and args.scale != preset.scale and not (getattr(args, "quiet", False) or args.json):
        console.print(f"note: --scale {args.scale} ignored: preset {preset.name} upscales x{preset.scale}", markup=False)
    return preset


# --- bench -------------------------------------------------------------------------------------


def _bench_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("clip", help="video clip to measure on (looped when shorter than --frames)")
    sub.add_argument("--frames", type=int, default=200, help="frames per stage (default 200)")
    _add_model_arguments(sub, random_size=True)
    _add_encoding_arguments(sub)
    sub.add_argument("--memory-check", action="store_true",
                     help="instead: run the whole pipeline over 100 and 1000 frames and compare peak memory")
    sub.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _bench_engine(args: argparse.Namespace) -> tuple[Engine, str]:
    """The engine to measure and how to name its model in the report."""
    from repsr_video.engine import create_engine, create_engine_for_network

    settings = _engine_settings(args)
    if args.size:
        from repsr_video.network import SRNet, parse_size

        scale = args.scale or DEFAULT_SCALE
        net = SRNet(scale, *parse_size(args.size)).eval()
        return create_engine_for_network(net, settings), f"random {args.size} x{scale}"
    preset = _preset(args)
    return create_engine(preset, settings), f"{preset.name} ({preset.size} x{preset.scale})"


def _bench_command(args: argparse.Namespace) -> int:
    import json

    from repsr_video.bench import memory_check, run_bench

    engine, model = _bench_engine(args)
    encode = _encode_settings(args)
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


# --- subcommand registry ---------------------------------------------------------------------
# Each entry: (help, load), where load() returns (add_arguments, run). Only the subcommand being run
# is loaded, so `repsr-video --help` and the upscaler never import the training package.
# The upscale command is the default when argv[0] is not a subcommand.

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def _train() -> tuple[AddArguments, Run]:
    from repsr_video.train.commands import train_command, train_parser

    return train_parser, train_command


def _eval() -> tuple[AddArguments, Run]:
    from repsr_video.train.commands import eval_command, eval_parser

    return eval_parser, eval_command


def _import() -> tuple[AddArguments, Run]:
    from repsr_video.interop.commands import import_command, import_parser

    return import_parser, import_command


def _export() -> tuple[AddArguments, Run]:
    from repsr_video.interop.commands import export_command, export_parser

    return export_parser, export_command


SUBCOMMANDS: dict[str, tuple[str, Callable[[], tuple[AddArguments, Run]]]] = {
    "presets": ("list the installed presets", lambda: (_presets_parser, _presets_command)),
    "train": ("train a RepSR preset on your images or clips", _train),
    "eval": ("score a preset against bicubic on high-resolution images", _eval),
    "bench": ("measure decode, infer, encode and end-to-end speed on a clip", lambda: (_bench_parser, _bench_command)),
    "import": ("turn a Compact (or other spandrel-supported) model file into a preset", _import),
    "export": ("write a preset as ONNX or as a Compact model for other tools", _export),
}


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repsr-video",
        description="Upscale videos, images or whole folders with RepSR networks. "
        f"Subcommands: {', '.join(SUBCOMMANDS)} (see `repsr-video SUBCOMMAND --help`).",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="show the versions of repsr-video, torch, av, torch-tensorrt and openvino")
    parser.add_argument("input", nargs="?", help="video, image (png jpg tif webp bmp) or folder to upscale")
    parser.add_argument("output", nargs="?", help="output file (container/image kind from its extension) or folder")
    _add_model_arguments(parser)
    _add_encoding_arguments(parser)
    _add_stream_arguments(parser)
    _add_job_arguments(parser)
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace existing outputs (FFmpeg's -y)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors: no progress, notes or summary")
    parser.add_argument("--json", action="store_true", help="print one JSON summary of the run on stdout")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be done (preset, engine, tiles, encoder, pixel format, colour, streams) "
                        "and do nothing")
    _add_common(parser)
    return parser


def _subcommand_parser(name: str) -> tuple[argparse.ArgumentParser, Run]:
    help_text, load = SUBCOMMANDS[name]
    add_arguments, run = load()
    parser = argparse.ArgumentParser(prog=f"repsr-video {name}", description=help_text)
    add_arguments(parser)
    _add_common(parser)
    return parser, run


# --- the upscale command -------------------------------------------------------------------------


class _UpscaleProgress:
    """Rich progress for the upscale command: one bar for the current file, one for a folder's files."""

    def __init__(self, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[fps]}"), TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"),
            TimeRemainingColumn(), console=console, transient=True,  # the summary line replaces the bars
            disable=quiet or not console.is_terminal,  # bars are for people at a terminal, not for logs and pipes
        )
        self.file_task: TaskID | None = None
        self.folder_task: TaskID | None = None

    def __enter__(self) -> _UpscaleProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def on_file_start(self, number: int, total: int, path: Path) -> None:
        if self.folder_task is None:
            self.folder_task = self.progress.add_task("files", total=total, fps="", unit="files")
        self.progress.update(self.folder_task, completed=number - 1)

    def on_file_done(self, result: FileResult) -> None:
        if self.folder_task is not None:
            self.progress.advance(self.folder_task)
        if self.file_task is not None:
            self.progress.remove_task(self.file_task)
            self.file_task = None

    def on_frames(self, event: ProgressEvent) -> None:
        from repsr_video.jobs import JobProgress

        if self.file_task is None and isinstance(event, JobProgress) and event.frames_resumed:
            self.print(f"{event.path.name}: resuming; {event.segments_done} of {event.segments_total} segment(s) "
                       f"({event.frames_resumed} frames) were done by an earlier run")
        if self.file_task is None:
            self.file_task = self.progress.add_task(event.path.name, total=event.frames_total, fps="", unit="frames")
        fresh = event.frames_done - (event.frames_resumed if isinstance(event, JobProgress) else 0)
        fps = f"{fresh / event.seconds:.1f} fps" if event.seconds > 0 else ""
        if isinstance(event, JobProgress) and event.segments_total > 1:
            fps += f"{', ' if fps else ''}{event.segments_done}/{event.segments_total} segments"
        total = max(event.frames_total or 0, event.frames_done) or None
        self.progress.update(self.file_task, completed=event.frames_done, total=total, fps=fps)

    def print(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)


def _output_path(source: Path, target: Path) -> Path:
    """A file into an existing folder goes to folder/<name> (named as folder mode names it)."""
    if source.is_file() and target.is_dir():
        from repsr_video.folder import output_for

        return output_for(source, source.parent, target)
    return target


def _check_paths(source: Path, target: Path, overwrite: bool) -> None:
    """Fail on a missing input or a bad output path before the (slower) engine is built."""
    from repsr_video.errors import InputError
    from repsr_video.media import is_image
    from repsr_video.output import check_output_path
    from repsr_video.output_plan import container_format

    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_dir():
        from repsr_video.folder import plan_folder

        plan_folder(source, target)  # unusable folders and output name collisions, before any work
        return
    if not is_image(source):
        container_format(target)
    check_output_path(source, target, overwrite)


def _upscale(
    args: argparse.Namespace, engine: Engine | LazyEngine, encode: EncodeSettings, view: _UpscaleProgress
) -> list[FileResult]:
    """Upscale the folder, image or video named by args; one FileResult per file."""
    from repsr_video.images import upscale_image
    from repsr_video.media import is_image

    source, target = Path(args.input), Path(args.output)
    if source.is_dir():
        from repsr_video.folder import upscale_folder

        return upscale_folder(source, target, engine, encode=encode, overwrite=args.overwrite,
                              progress=view.on_frames, on_file_start=view.on_file_start, on_file_done=view.on_file_done,
                              job=_job_settings(args), factory=_factory(args, _preset(args)))
    if is_image(source):
        return [upscale_image(source, target, engine, overwrite=args.overwrite, progress=view.on_frames)]
    from repsr_video.pipeline import upscale_video

    return [upscale_video(source, target, engine, encode=encode, overwrite=args.overwrite, progress=view.on_frames,
                          job=_job_settings(args), factory=_factory(args, _preset(args)))]


def _upscale_command(args: argparse.Namespace) -> int:
    from repsr_video.engine import create_engine
    from repsr_video.jobs.engines import LazyEngine

    source = Path(args.input)
    args.output = str(_output_path(source, Path(args.output)))
    _check_paths(source, Path(args.output), args.overwrite)
    preset = _preset(args)
    encode = _encode_settings(args)  # bad encoding options fail before the engine is built
    _set_threads(args.threads)
    if args.dry_run:
        return _dry_run(args, preset, create_engine(preset, _engine_settings(args)), encode)
    elsewhere = _workers_elsewhere(args, source)  # a video whose segments all run in workers: no model here
    engine: Engine | LazyEngine = (LazyEngine(_factory(args, preset), elsewhere) if elsewhere
                                   else create_engine(preset, _engine_settings(args)))
    talk = not (args.quiet or args.json)
    with _UpscaleProgress(args.quiet) as view:
        if talk:
            where = (f"in {elsewhere}" if isinstance(engine, LazyEngine)
                     else f"on {engine.device}, backend {engine.backend}, batch {engine.batch}")
            view.print(f"preset {preset.name} (x{preset.scale}, {preset.size}) {where}")
        results = _upscale(args, engine, encode, view)
        for result in results:
            for warning in result.warnings if talk else ():
                view.print(f"warning: {warning}")
    failed = any(r.status == "failed" for r in results)
    if args.json:
        print(json.dumps(_summary(preset, engine, results), indent=2))
    elif source.is_dir():
        _print_folder_table(results, source, quiet=args.quiet)
    if source.is_dir() or not talk:
        return 1 if failed else 0
    r = results[0]
    console.print(f"{r.output}: {r.frames} frame(s) in {r.seconds:.1f} s ({r.fps:.1f} fps)", markup=False, highlight=False)
    _print_segments(r)
    return 0


def _factory(args: argparse.Namespace, preset: Preset) -> PresetEngine:
    from repsr_video.jobs import PresetEngine

    return PresetEngine(str(preset.path), _engine_settings(args))


def _workers_elsewhere(args: argparse.Namespace, source: Path) -> str | None:
    """Where a video's segments run when not in this process ("Ray (auto)", "2 worker processes"), else None."""
    from repsr_video.media import is_image

    if source.is_dir() or is_image(source):
        return None
    if args.ray:
        return f"Ray ({args.ray})"
    job = _job_settings(args)
    if len(job.worker_devices()) < 2:
        return None
    return f"{len(job.worker_devices())} worker processes" + (f" ({', '.join(job.devices)})" if job.devices else "")


def _segment_fields(result: FileResult) -> dict[str, Any]:
    """The --json fields of a video that ran as segments."""
    from repsr_video.jobs.video import SegmentedResult

    if not isinstance(result, SegmentedResult):
        return {}
    return {"segments": result.segments, "segments_resumed": result.segments_resumed, "frames_resumed": result.frames_resumed,
            "resume_saved": round(result.resume_saved, 4)}


def _print_segments(result: FileResult) -> None:
    from repsr_video.jobs.video import SegmentedResult

    if isinstance(result, SegmentedResult) and (result.segments > 1 or result.segments_resumed):
        resumed = (f"; {result.segments_resumed} were done by an earlier run ({result.resume_saved:.0%} of the frames)"
                   if result.segments_resumed else "")
        console.print(f"{result.segments} segment(s){resumed}", markup=False, highlight=False)


def _print_folder_table(results: list[FileResult], folder: Path, *, quiet: bool = False) -> None:
    """The table of files (output names as written) and the done/skipped/failed counts; with quiet only the
    failures, one line each."""
    from repsr_video.folder import count_results

    if quiet:
        for r in results:
            if r.status == "failed":
                console.print(f"error: {r.error}", markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title="upscaled")
    for column in ("file", "output", "frames", "fps", "result"):
        table.add_column(column)
    style = {"done": "green", "skipped": "yellow", "failed": "red"}
    for r in results:
        outcome = r.status if r.status == "done" and not r.warnings else f"{r.status}: {r.error or '; '.join(r.warnings)}"
        frames, fps = (str(r.frames), f"{r.fps:.1f}") if r.frames else ("-", "-")
        table.add_row(str(r.input.relative_to(folder)), r.output.name, frames, fps, f"[{style[r.status]}]{outcome}")
    Console().print(table)
    counts = count_results(results)
    console.print(f"{len(results)} file(s): {counts['done']} done, {counts['skipped']} skipped (output exists), "
                  f"{counts['failed']} failed", markup=False, highlight=False)


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    from repsr_video.errors import EngineError

    if threads < 1:
        raise EngineError(f"--threads {threads} must be 1 or more")
    from repsr_video.engine import set_cpu_threads

    set_cpu_threads(threads)


def _summary(preset: Preset, engine: Engine | LazyEngine, results: list[FileResult]) -> dict[str, Any]:
    """The --json summary: what ran, and one entry per file."""
    from repsr_video.folder import count_results

    files = [{"input": str(r.input), "output": str(r.output), "status": r.status, "frames": r.frames,
              "seconds": round(r.seconds, 3), "fps": round(r.fps, 2), "warnings": r.warnings, "error": r.error,
              **_segment_fields(r)}
             for r in results]
    return {"preset": preset.name, "scale": preset.scale, "engine": engine.describe(), **count_results(results), "files": files}


def _dry_run(args: argparse.Namespace, preset: Preset, engine: Engine, encode: EncodeSettings) -> int:
    """Print (or with --json, emit) the plan of every file; nothing is written."""
    from repsr_video.dry_run import plan_run

    plans = plan_run(Path(args.input), Path(args.output), engine, encode, overwrite=args.overwrite)
    if args.json:
        print(json.dumps({"preset": preset.name, "scale": preset.scale, "engine": engine.describe(),
                          "files": [p.as_dict() for p in plans]}, indent=2))
        return 1 if any(p.error for p in plans) else 0
    say = print  # the plan is the command's output: stdout
    say(f"preset {preset.name} (x{preset.scale}, {preset.size}); engine {engine.describe()}")
    for p in plans:
        say(f"{p.input} -> {p.output}: {p.action}" + (f" ({p.error})" if p.error else ""))
        if p.size:
            say(f"  size {p.size}; " + (f"tiles of {p.tile} px" if p.tile else "whole frames"))
        if p.codec:
            say(f"  encoder {p.codec}, pixel format {p.pix_fmt}, colour {p.colour}")
        elif p.pix_fmt:
            say(f"  image {p.pix_fmt}")
        for line in [*p.streams, *(f"note: {n}" for n in p.notes)]:
            say(f"  {line}")
    return 1 if any(p.error for p in plans) else 0


# --- entry point -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    run: Run
    if argv and argv[0] in SUBCOMMANDS:
        parser, run = _subcommand_parser(argv[0])
        args = parser.parse_args(argv[1:])
    else:
        main_parser = _main_parser()
        args = main_parser.parse_args(argv)
        if args.input is None or args.output is None:
            main_parser.print_usage(sys.stderr)
            console.print("error: INPUT and OUTPUT are required (or a subcommand)", markup=False)
            return 2
        run = _upscale_command
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", PresetWarning)
            warnings.showwarning = _show_warning
            return run(args)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGHUP through repsr_video.signals
        from repsr_video import signals

        console.print(signals.describe(stop), markup=False)
        return signals.exit_code(stop)
    except RepsrError as error:
        if args.debug:
            raise
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        if getattr(args, "json", False):
            print(json.dumps({"error": str(error)}))
        return 1


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Library warnings (a skipped preset file) as one line: `warning: <file>: <cause>`."""
    console.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())
