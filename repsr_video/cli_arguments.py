"""The command line's shared options: model, engine, encoding, streams and long-video jobs, and the
settings objects they make. Used by the upscale command (cli.py) and `repsr-video bench`.

Options not given are left out of the settings, so each settings dataclass supplies its own defaults;
the choices come from repsr_video.choices. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console

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
from repsr_video.errors import RepsrError

if TYPE_CHECKING:
    from repsr_video.engine import EngineSettings
    from repsr_video.jobs import JobSettings
    from repsr_video.output_plan import EncodeSettings
    from repsr_video.preset import Preset

console = Console(stderr=True)


def add_model_arguments(parser: argparse.ArgumentParser, *, random_size: bool = False) -> None:
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
    model.add_argument("--device", type=device_option, metavar="|".join(DEVICES) + "|cuda:0,1",
                       help="where to run (auto: a CUDA GPU when torch sees one, else the CPU; cuda:1: that GPU; "
                       "cuda:0,1: one worker per listed GPU)")
    model.add_argument("--backend", choices=BACKENDS,
                       help="auto: on a GPU TensorRT where installed, else torch.compile; on the CPU OpenVINO where installed, "
                       "else torch.compile; eager: plain torch, no warm-up")
    model.add_argument("--batch", type=int, metavar="N", help="frames per batch (0: chosen for the device)")
    model.add_argument("--tile", type=int, metavar="N",
                       help="cut frames into N x N-pixel tiles with exact seams (0: never; default: only frames too "
                       "large for the memory budget)")
    model.add_argument("--threads", type=int, metavar="N", help="CPU threads for the network (default: one per core)")


def apply_threads(args: argparse.Namespace) -> None:
    """--threads, for whichever runtime the engine uses (given before the engine is built)."""
    if args.threads is None:
        return
    if args.threads < 1:
        from repsr_video.errors import EngineError

        raise EngineError(f"--threads {args.threads} must be 1 or more")
    from repsr_video.engine import set_cpu_threads

    set_cpu_threads(args.threads)


def add_encoding_arguments(parser: argparse.ArgumentParser) -> None:
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


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
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


def given(args: argparse.Namespace, fields: dict[str, str]) -> dict[str, Any]:
    """{settings field: value} for each option the user gave (fields maps settings field -> argparse dest)."""
    return {field: getattr(args, dest) for field, dest in fields.items() if getattr(args, dest) is not None}


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    from repsr_video.engine import EngineSettings

    chosen = given(args, {"device": "device", "backend": "backend", "batch": "batch", "tile": "tile"})
    if "device" in chosen:  # cuda:0,1: this process's engine on cuda:0, a worker per GPU (see job_settings)
        from repsr_video.jobs.options import parse_devices

        chosen["device"] = parse_devices(chosen["device"])[0]
    return EngineSettings(**chosen)


def _checked_by(parse_name: str) -> Callable[[str], str]:
    """An argparse type that checks the text with repsr_video.jobs.options.<parse_name> (imported when an
    option is given) and keeps it as written: the settings parse it again."""

    def check(text: str) -> str:
        from repsr_video.jobs import options

        try:
            getattr(options, parse_name)(text)
        except RepsrError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    return check


device_option = _checked_by("parse_devices")  # --device: auto, cpu, cuda, cuda:N or cuda:0,1
time_option = _checked_by("parse_time")  # -ss/-t: seconds or [HH:]MM:SS[.frac]


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """Segments, resume, time range and parallel workers (docs/segments.md)."""
    from repsr_video.jobs.options import DEFAULT_SEGMENT_SECONDS

    job = parser.add_argument_group("long videos (a video runs as segments; the same command again resumes)")
    job.add_argument("-ss", "--start", type=time_option, metavar="TIME",
                     help="start here (FFmpeg's -ss: seconds or [HH:]MM:SS[.frac])")
    job.add_argument("-t", "--duration", type=time_option, metavar="TIME", help="process this long from --start (FFmpeg's -t)")
    job.add_argument("--segment", type=float, metavar="SECONDS",
                     help=f"segment length, cut at source keyframes (default {DEFAULT_SEGMENT_SECONDS:g})")
    job.add_argument("--workers", type=int, metavar="N", help="segments in N processes (default 1; on CUDA, one per GPU)")
    job.add_argument("--ray", metavar="ADDRESS", help="run segments as Ray tasks: auto, ray://HOST:10001, or local")
    job.add_argument("--restart", action="store_true", help="discard saved work of an earlier run of this output")


def job_settings(args: argparse.Namespace) -> JobSettings:
    """JobSettings from the options; on CUDA without --workers or a GPU list, one worker per GPU."""
    from repsr_video.engine import device_kind
    from repsr_video.jobs import JobSettings, TimeRange
    from repsr_video.jobs.options import parse_devices, parse_time

    kind, devices = parse_devices(args.device or "auto")
    gpu = kind == "cuda" or (kind == "auto" and device_kind("auto") == "cuda")  # torch is asked only where a GPU can be
    if not devices and args.workers is None and not args.ray and gpu:  # one worker per GPU
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        devices = tuple(f"cuda:{i}" for i in range(count)) if count > 1 else ()
    start, duration = (parse_time(t) if t else None for t in (args.start, args.duration))
    time_range = TimeRange(start, duration)
    options = {"segment_seconds": args.segment, "workers": args.workers}
    return JobSettings(**{k: v for k, v in options.items() if v is not None}, devices=devices, ray_address=args.ray,
                       restart=args.restart, time_range=time_range)


def encode_settings(args: argparse.Namespace) -> EncodeSettings:
    from repsr_video.output_plan import EncodeSettings
    from repsr_video.streams import StreamSettings

    fields = {"codec": "codec", "crf": "crf", "preset": "encoder_preset", "pix_fmt": "pix_fmt", "encoder": "encoder",
              "deinterlace": "deinterlace", "yuv_path": "yuv_path"}
    stream_fields = {name: name for name in ("audio_codec", "subtitle_codec", "no_audio", "no_subtitles", "no_data")}
    streams = StreamSettings(**given(args, stream_fields)) if hasattr(args, "audio_codec") else StreamSettings()
    return EncodeSettings(**given(args, fields), streams=streams)


def device_type(args: argparse.Namespace) -> str:
    """The device type ("cpu" or "cuda") the engine will run on, for the device-aware default preset."""
    from repsr_video.engine import device_kind

    device = getattr(args, "device", None) or "auto"
    return device if device != "auto" else device_kind(device)


def chosen_preset(args: argparse.Namespace) -> Preset:
    """The preset named by --preset, else the default one of --scale. --preset wins: a different --scale
    is ignored with a note (printed unless --quiet/--json)."""
    from repsr_video.preset import default_preset, load_preset

    if args.preset:
        preset = load_preset(args.preset)
    else:
        preset = default_preset(args.scale or DEFAULT_SCALE, device_type(args))
    if args.preset and args.scale and args.scale != preset.scale and not (getattr(args, "quiet", False) or args.json):
        console.print(f"note: --scale {args.scale} ignored: preset {preset.name} upscales x{preset.scale}", markup=False)
    return preset
