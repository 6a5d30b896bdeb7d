"""Command line and the one typed settings object built from it."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union
from urllib.parse import urlparse

from . import __version__
from .presets import MAX_SPEED, MIN_SPEED

DEFAULT_URI = "tcp://0.0.0.0:10200"
DEFAULT_HTTP_URI = "http://0.0.0.0:10201"
KOKORO_PRECISIONS = ("fp32", "fp16", "int8")
ZIPVOICE_VARIANTS = ("zipvoice_distill", "zipvoice")
SUPERVISOR_URL = "http://supervisor"  # the Supervisor's API, as add-ons reach it
# Guessing a secret (admin token, session cookie, API key): a client address that presents
# this many wrong ones within the window is refused, right secret or not, until it has passed.
SECRET_ATTEMPTS = 5
SECRET_WINDOW_SECONDS = 60.0
SECRET_CLIENTS = 4096  # client addresses whose failures are remembered (oldest dropped first)

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

# What one SSML document may ask for (speech/ssml.py); the speed bounds are MIN_SPEED and
# MAX_SPEED, for rates multiplied by nested <prosody> and <emphasis> as for any other.
SSML_MAX_DEPTH = 32  # elements nested deeper: refused (bad-ssml) before the tree is read
SSML_MAX_PAUSE_SECONDS = 10.0  # one pause, neighbouring breaks added up
SSML_MAX_TOTAL_PAUSE_SECONDS = 60.0  # all pauses of a document; later ones are left out
MAX_NUMBER_DIGITS = 15  # longer numbers (text, SSML say-as) are read digit by digit

# Voice prompt recordings (registrations, /v1/zipvoice prompts) are checked against these
# bounds by their header before any decoding, and decoded a block at a time, so a small file
# whose header announces a huge rate, channel count or length costs neither memory nor time.
MIN_AUDIO_RATE = 8_000  # Hz; below telephone quality there is no voice left to clone
MAX_AUDIO_RATE = 192_000  # Hz; the highest rate recorders and interfaces use
MAX_AUDIO_CHANNELS = 8  # 7.1 surround; every recording is mixed to mono anyway
# frames x channels one recording may hold, which bounds the CPU time of one decode (60 s of
# 96 kHz stereo is 11.5 million)
MAX_AUDIO_SAMPLES = 16_000_000
DECODE_BLOCK_FRAMES = 32_768  # frames decoded at a time: 1 MiB of float32 at 8 channels

# The most frames (25 ms each) one Kokoro generator call decodes, context included (the
# statistics fit at first start excepted): a call's working memory grows by about 0.9 MB a
# frame, and onnxruntime's arena keeps the largest, so this bounds the server's memory (3.2 s
# of audio, about 120 MB). Longer sentences are always decoded in windows.
MAX_CALL_FRAMES = 128
# A voice's first sentences are decoded whole to learn its statistics offset: those of at most
# this many frames (6 s), each giving its arena back as it ends. A longer one goes in windows
# and does not teach the voice.
MAX_LEARN_FRAMES = 240
# Voices (names or blend specs) spoken lately that are kept on disk, so that their offsets are
# learnt again in the background at a start that lost them (a new model).
RECENT_VOICES = 8
# Background work (learning voices) starts only after the worker pool has had no other call
# for this long: an answer's next call is queued a moment after its last one ends.
BACKGROUND_IDLE_SECONDS = 1.0
# Earliest deadline first (`scheduler`): an answer's opening call whose listener runs out of
# audio this much sooner than that of the call in progress overtakes it when every worker is
# busy (the later call's model run is aborted and made again after). A short answer then does
# not wait behind a long answer's window (up to 1.4 s here); the long answer, at least this
# far ahead of its listener, loses the time of the opening call and of its aborted run.
PREEMPT_SLACK_SECONDS = 0.5
# An answer whose last call ended this recently still shares the workers (its next call is
# queued a moment after): streams size their windows for their share (`Turn.sharing`).
SHARING_SECONDS = 0.5
MAX_VOICES_TO_LEARN = 64  # voices waiting to be learnt in the background, the oldest dropped
MAX_LEARN_STEPS = 4  # background calls that learn one voice (two sentences, with room)
# The voice check (`KokoroEngine.check_voice`), as a voice is learnt in the background: its
# learning sentences, decoded in windows of `CHECK_WINDOW` frames (the smallest an answer uses,
# `stream.MIN_WINDOW`: the most joins) with the offset learnt from them, are compared with
# their whole decodes by segmental SNR (`kokoro.check`, the lowest). Below `MIN_WINDOW_SNR` dB
# the voice's sentences are decoded whole. Calibrated against PESQ (wideband 16 kHz, windows
# against the whole decode, `script/calibrate_voice_check.py`): the two voices below PESQ 3.9
# (ef_dora 3.56, am_michael(1)+bf_emma(1) 3.33) measured 8.3 and 9.0 dB, the twelve others of
# `benchmark_offsets.VOICES` 10.9 dB (pf_dora) and more. Not yet measured on every pack: of two
# more, am_adam (PESQ 4.22) passed at 10.1 dB and em_alex (4.00) failed at 9.4 dB (decoded
# whole: correct, its first audio later). A measure on sentences other than those the offset
# was learnt from did not separate the voices (segmental SNR, log-mel distance).
CHECK_WINDOW = 12
MIN_WINDOW_SNR = 10.0

# Threads that split and normalize text (textwork.py): each call is short (a chunk, a piece of
# at most MAX_PIECE_CHARS), and these never wait behind decoding or transcription.
TEXT_WORKERS = 2

CHILD_POLL_SECONDS = 0.2  # how often a start-up job run in a child process is checked on
# `npm pack kokoro-js` (the 54 voice packs, 27 MB) must finish within this, or the server goes
# on with the voice packs it has.
NPM_PACK_SECONDS = 120.0
# A first start prepares Kokoro's streaming decoder (split, statistics fit, speed) while the
# server already speaks whole sentences: the split's child process runs at this niceness, and
# each model call of the preparation waits until no answer has run for this long (an answer
# that starts aborts the call in progress, which is made again).
SPLIT_NICENESS = 19
PREPARE_IDLE_SECONDS = 0.5

# A text with nothing to say (only spaces, dots, emoji or Markdown) is answered with this much
# silence: audio every client and decoder accepts (an MP3 or Opus file without a frame is not).
SILENT_ANSWER_SECONDS = 0.1
# How often a connection that is being closed checks whether what it sent has reached the
# client (it waits at most --write-timeout, then resets the connection).
CLOSE_POLL_SECONDS = 0.02

# Text limits. Speech is made and sent piece by piece, so a long text costs time, not memory:
# the whole-text limit is wide (an LLM's summary, a story), each piece is short.
MAX_TEXT_CHARS = 100_000  # default --max-text: one request, or one streamed answer (~2 hours)
# The longest piece of text one engine call is given (before and again after normalization,
# which can make a text ten times longer): Kokoro takes at most 510 phonemes (~450 characters
# of English) per model call, and the scheduler cannot interrupt a call, so no call may keep
# another client waiting long. A longer sentence is cut at its last sentence end, clause
# mark, or space before this; a longer word is cut where it reaches it.
MAX_PIECE_CHARS = 350
# The longest input of an HTTP answer sent whole (`stream: false`): it is held in memory until
# its end (WAV: 48 kB per second of speech; 10,000 characters are about 12 minutes, 35 MB).
MAX_WHOLE_ANSWER_CHARS = 10_000
# A streamed HTTP answer in a lossy format (mp3, opus, aac) is encoded and sent this much audio
# at a time: its first bytes leave after one slice is encoded (a few ms), not after the whole
# first stretch of audio (a whole 2 s sentence took 35 ms as MP3 on an idle 2-core machine,
# up to 180 ms on a busy one), and later stretches never keep a player waiting that long.
ENCODE_SLICE_SECONDS = 0.1
# Captions (WebVTT, SRT) from word timings: a cue holds at most this many characters (one
# line as subtitle guidelines ask) and lasts at most this long; a sentence starts a new cue.
CAPTION_MAX_CHARS = 42
CAPTION_MAX_SECONDS = 5.0

# Several servers on one data dir (NFS, a Docker volume): each notices what the others changed
# (clones, presets, the lexicon) by a `stat` of each store's files every `REREAD_SECONDS`, and
# reads a file again only when its stamp (inode, size, times) moved (`watcher.DataWatcher`).
# inotify would not see another NFS client's changes; a poll sees them everywhere. Every
# `REREAD_VERIFY_SECONDS` the files are read whatever their stamps say (a change whose stamp
# an NFS attribute cache hid). A voice that is not known yet makes the stores be read at once,
# at most every `REREAD_ON_MISS_SECONDS` (a clone registered through the other server a moment
# ago speaks at once).
REREAD_SECONDS = 0.5
REREAD_VERIFY_SECONDS = 30.0
REREAD_ON_MISS_SECONDS = 0.1
# A change to a shared file (presets, lexicon, a clone's name) waits at most this long for the
# advisory lock (`flock` on NAME.lock) that another server or thread holds; then it is refused
# as busy (503). A change holds the lock for milliseconds.
FILE_LOCK_SECONDS = 10.0
# A model download (ZipVoice, Whisper) at a first start holds a lock on `FOLDER.lock`, so two
# servers starting at once on an empty data dir download it once: the other waits at most
# this long, then uses the finished folder.
MODEL_LOCK_SECONDS = 1800.0
# A clone's folder is built under a hidden name and renamed into place. One left behind this
# long is a crashed registration and is removed at start; a younger one may be another
# server's registration in progress.
STAGING_STALE_SECONDS = 3600.0

# Metrics (`metrics.py`, `/metrics` and `/api/status`). The status panel's history: one point
# per `STATUS_INTERVAL_SECONDS`, the last `STATUS_HISTORY_SECONDS` kept (360 points); each
# point keeps at most `STATUS_MAX_SAMPLES` first-audio times for its median (later ones count
# toward its maximum only), so memory stays bounded however busy the server is.
STATUS_INTERVAL_SECONDS = 10.0
STATUS_HISTORY_SECONDS = 3600.0
STATUS_MAX_SAMPLES = 1000
STATUS_RECENT_ERRORS = 20  # the last errors /api/status lists (code, when, message)
# A listener has run out of audio (a stall) when a chunk is sent this long or more after the
# audio sent before it finished playing (`script/benchmark_load.py`'s `stalls`).
STALL_GAP_SECONDS = 0.010
# Dialogues (`POST /v1/audio/dialogue`): their turns' texts together are held to the same
# character limits as one input (--max-text; MAX_WHOLE_ANSWER_CHARS sent whole). Each turn is
# at least one piece and one engine call, so the number of turns is bounded too; pauses are
# bounded like SSML breaks, one and all together (silence costs memory in an answer sent whole).
DIALOGUE_MAX_TURNS = 200
DIALOGUE_PAUSE_SECONDS = 0.4  # between two turns, unless the request asks for another
DIALOGUE_MAX_PAUSE_SECONDS = SSML_MAX_PAUSE_SECONDS  # one pause between two turns
DIALOGUE_MAX_TOTAL_PAUSE_SECONDS = 300.0  # all pauses of a dialogue
# Kokoro on Triton Inference Server (`--triton`, `engines/triton`). A model call that takes
# longer than `TRITON_CALL_SECONDS` fails (a window takes milliseconds on a GPU; the statistics
# fit's whole decodes of a first start take seconds on a CPU-only server). A server that fails
# a call is passed over for `TRITON_COOL_OFF_SECONDS`, and the call is made once more on
# another one where one is listed (`TRITON_TRIES` servers in all). While no server can speak
# (at start), it is asked again every `TRITON_CHECK_SECONDS`, each question bounded by
# `TRITON_PROBE_SECONDS`.
TRITON_CALL_SECONDS = 60.0
TRITON_COOL_OFF_SECONDS = 10.0
TRITON_TRIES = 2
TRITON_CHECK_SECONDS = 5.0
TRITON_PROBE_SECONDS = 3.0


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know, parsed and validated once."""

    uri: str
    data_dir: Path
    voice: Optional[str]
    speed: float
    samples_per_chunk: int
    whole_sentences: bool
    decode_windows: bool
    kokoro_model: Optional[Path]
    kokoro_voices: Optional[Path]
    kokoro_precision: str
    kokoro_runtime: str
    kokoro_torch_model: Optional[Path]
    device: str
    download: bool
    zipvoice: bool
    zipvoice_model: Optional[Path]
    zipvoice_variant: str
    zipvoice_steps: Optional[int]
    zipvoice_guidance: Optional[float]
    zipvoice_t_shift: float
    zipvoice_threads: int
    transcriber: bool
    whisper_model: Optional[Path]
    whisper_size: str
    workers: int
    max_queue: int
    max_text: int
    idle_timeout: float
    write_timeout: float
    threads: int
    http_uri: Optional[str]
    admin_token: Optional[str]
    api_keys: Tuple[str, ...]
    prompt_cache_size: int
    prompt_cache_hours: float
    allow_url_download: bool
    allow_private_urls: bool
    max_prompt_seconds: float
    zeroconf_name: Optional[str]
    zeroconf_host: Optional[str]
    ingress_proxies: Tuple[str, ...]
    supervisor_url: Optional[str]
    debug: bool
    metrics_private: bool = False
    triton: Tuple[str, ...] = ()


def _speed_factor(value: str) -> float:
    number = float(value)
    if not MIN_SPEED <= number <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"must be between {MIN_SPEED} and {MAX_SPEED}")
    return number


def ip_address(value: str) -> IPAddress:
    """An IP address as one spelling: an IPv4 address mapped into IPv6 (`::ffff:172.30.32.2`,
    as a dual-stack socket shows an IPv4 peer) is that IPv4 address. Raises `ValueError`.

    Configured addresses and the peers they are compared with both pass through here.
    """
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address(value: str) -> str:
    try:
        return str(ip_address(value))
    except ValueError:
        raise argparse.ArgumentTypeError("must be an IP address") from None


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds greater than 0")
    return number


def _prompt_seconds(value: str) -> float:
    number = float(value)
    if not 2.0 <= number <= 30.0:
        raise argparse.ArgumentTypeError("must be between 2 and 30 seconds")
    return number


def _http_uri(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme != "http" or not parsed.hostname or parsed.port is None:
        raise SystemExit(f"--http-uri must look like http://HOST:PORT, not {value!r}")
    return value


def _triton_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme != "grpc" or not parsed.hostname or parsed.port is None:
        raise argparse.ArgumentTypeError("must look like grpc://HOST:PORT")
    return value


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _api_keys(given: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """`--api-key` values, else `$POLYTTS_API_KEYS` split at commas; blanks dropped."""
    keys = given if given else os.environ.get("POLYTTS_API_KEYS", "").split(",")
    return tuple(key.strip() for key in keys if key.strip())


def build_parser() -> argparse.ArgumentParser:
    """The command line of `wyoming-polytts`."""
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(
        prog="wyoming-polytts",
        description="Wyoming text-to-speech server with Kokoro-82M voices.",
    )
    parser.add_argument(
        "--uri",
        default=DEFAULT_URI,
        help="where to listen: tcp://HOST:PORT, unix://PATH or stdio:// (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("POLYTTS_DATA_DIR", "data")),
        help="folder for models and state (default: $POLYTTS_DATA_DIR or ./data)",
    )
    parser.add_argument(
        "--voice",
        help="default voice when a request names neither voice nor another language "
        "(default: the clearest English voice installed: af_heart, or jm_kumo with only the "
        "Japanese packs); a request for another language gets that language's own default",
    )
    parser.add_argument(
        "--speed",
        type=_speed_factor,
        default=1.0,
        help="default speaking rate, 0.25 to 4.0 (default: %(default)s)",
    )
    parser.add_argument(
        "--samples-per-chunk",
        type=_positive_int,
        default=1024,
        help="audio samples per audio-chunk event (default: %(default)s)",
    )
    clauses = parser.add_mutually_exclusive_group()
    clauses.add_argument(
        "--first-clause",
        dest="whole_sentences",
        action="store_false",
        help="speak the first clause of a long first sentence on its own, as soon as it is "
        "ready (first audio sooner, at some cost to prosody)",
    )
    clauses.add_argument(
        "--whole-sentences",
        dest="whole_sentences",
        action="store_true",
        help="speak every sentence whole (the default)",
    )
    decoding = parser.add_mutually_exclusive_group()
    decoding.add_argument(
        "--decode-whole",
        dest="decode_windows",
        action="store_false",
        help="decode each Kokoro sentence whole before sending it, instead of in windows "
        "sent as they are ready (exactly the model's output; first audio later)",
    )
    decoding.add_argument(
        "--decode-windows",
        dest="decode_windows",
        action="store_true",
        help="decode Kokoro sentences in windows sent as they are ready (the default)",
    )
    parser.set_defaults(whole_sentences=True, decode_windows=True)
    parser.add_argument(
        "--kokoro-model",
        type=Path,
        help="a local Kokoro-82M v1.0 ONNX file (skips download and embedded model)",
    )
    parser.add_argument(
        "--kokoro-voices",
        type=Path,
        help="Kokoro voice packs: a .npz/.bin archive or a folder of NAME.bin/NAME.npy",
    )
    parser.add_argument(
        "--kokoro-precision",
        choices=KOKORO_PRECISIONS,
        default="int8",
        help="which ONNX export to download (default: %(default)s)",
    )
    parser.add_argument(
        "--kokoro-runtime",
        choices=("onnx", "torch"),
        default="onnx",
        help="onnxruntime (default), or the reference PyTorch `kokoro` package "
        "(needs the [torch] extra)",
    )
    parser.add_argument(
        "--kokoro-torch-model",
        type=Path,
        help="folder with Kokoro's config.json and .pth weights for --kokoro-runtime torch",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where models run: auto uses a CUDA GPU when the runtime sees one "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--no-download",
        action="store_true",
        help="never download models; use the data dir or the embedded model",
    )
    parser.add_argument(
        "--no-zipvoice", action="store_true", help="no voice clones: do not load ZipVoice"
    )
    parser.add_argument(
        "--zipvoice-model",
        type=Path,
        help="a folder with an exported ZipVoice model for sherpa-onnx (encoder, decoder, "
        "vocos vocoder, tokens.txt, lexicon.txt); skips the download",
    )
    parser.add_argument(
        "--zipvoice-variant",
        choices=ZIPVOICE_VARIANTS,
        default="zipvoice_distill",
        help="which official export to download (default: %(default)s)",
    )
    parser.add_argument(
        "--zipvoice-steps",
        type=_positive_int,
        help="flow-matching steps (default: 8 for zipvoice_distill, 16 for zipvoice)",
    )
    parser.add_argument(
        "--zipvoice-guidance",
        type=float,
        help="classifier-free guidance scale (default: 3.0 distill, 1.0 zipvoice)",
    )
    parser.add_argument(
        "--zipvoice-t-shift",
        type=float,
        default=0.5,
        help="time-step shift of the sampler, lower spends more steps on early noise "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--zipvoice-threads",
        type=_positive_int,
        default=cpus,
        help="CPU threads of the ZipVoice runtime (default: all cores)",
    )
    parser.add_argument(
        "--no-transcriber",
        action="store_true",
        help="no speech recognition: prompt transcripts must be typed",
    )
    parser.add_argument(
        "--whisper-model",
        type=Path,
        help="a local CTranslate2 Whisper model folder for faster-whisper",
    )
    parser.add_argument(
        "--whisper-size",
        default="base",
        help="Whisper model to download when online, e.g. base, small (default: %(default)s; "
        "offline the embedded base model is used)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="model runs at the same time, each on all --threads (default: %(default)s; 2 gets "
        "about a fifth more done while several answers run, for about 70 MiB more memory)",
    )
    parser.add_argument(
        "--max-queue",
        type=_positive_int,
        default=64,
        help="sentences that may wait for a worker; beyond, requests get a busy error "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-text",
        type=_positive_int,
        default=MAX_TEXT_CHARS,
        help="longest text, in characters, of one request or one streamed answer; it is "
        f"spoken in pieces of at most {MAX_PIECE_CHARS} characters as they are ready "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_positive_seconds,
        default=300.0,
        help="seconds after which a connection with nothing to do is closed (default: %(default)s)",
    )
    parser.add_argument(
        "--write-timeout",
        type=_positive_seconds,
        default=30.0,
        help="seconds a client may stop reading before it is dropped, also when its connection "
        "is closed with audio it has not taken yet (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=cpus,
        help="CPU threads per synthesis (default: all cores, %(default)s here)",
    )
    parser.add_argument(
        "--http-uri",
        default=DEFAULT_HTTP_URI,
        help="where the admin page and API listen: http://HOST:PORT (default: %(default)s)",
    )
    parser.add_argument("--no-http", action="store_true", help="no admin page or API")
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("POLYTTS_ADMIN_TOKEN"),
        help="token that changes voices through the page and API (default: "
        "$POLYTTS_ADMIN_TOKEN, else one generated and kept in DATA_DIR/admin_token)",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="a key that OpenAI-style clients send as 'Authorization: Bearer KEY' (repeat for "
        "several; default: $POLYTTS_API_KEYS, comma-separated). With keys, /v1 speech needs "
        "one; without, it is open like the Wyoming port. Changing voices through /v1 always "
        "needs a key or the admin token",
    )
    parser.add_argument(
        "--prompt-cache-size",
        type=_positive_int,
        default=32,
        help="URL and base64 voice prompts kept ready, and downloads kept on disk "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--prompt-cache-hours",
        type=_positive_seconds,
        default=24.0,
        help="hours a cached URL or base64 voice prompt is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--allow-url-download",
        action="store_true",
        help="let the API fetch voice recordings from URLs",
    )
    parser.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="let URL downloads reach private, loopback and link-local addresses",
    )
    parser.add_argument(
        "--max-prompt-seconds",
        type=_prompt_seconds,
        default=10.0,
        help="longest speech a voice recording may hold; ZipVoice clones best from about "
        "3 s (default: %(default)s)",
    )
    parser.add_argument(
        "--zeroconf",
        nargs="?",
        const="wyoming-polytts",
        metavar="NAME",
        help="announce the server on the LAN by mDNS as NAME (default NAME: %(const)s)",
    )
    parser.add_argument(
        "--zeroconf-host",
        help="address to announce and to send mDNS on (default: the LAN address)",
    )
    parser.add_argument(
        "--ingress-proxy",
        action="append",
        type=_address,
        default=[],
        metavar="ADDR",
        help="requests coming from this address are signed in to the admin page: Home "
        "Assistant's ingress proxy (172.30.32.2 in an add-on), which lets only its signed-in "
        "users through; repeatable. Never an address that other clients can use",
    )
    parser.add_argument(
        "--supervisor-discovery",
        nargs="?",
        const=SUPERVISOR_URL,
        metavar="URL",
        help="as a Home Assistant add-on: announce the server to the Supervisor's discovery "
        "API (default URL: %(const)s) with the token in $SUPERVISOR_TOKEN",
    )
    parser.add_argument(
        "--metrics-private",
        action="store_true",
        help="GET /metrics (Prometheus) and /api/status (the page's status panel) need the "
        "admin token or an API key; by default they are open like /api/health: they hold "
        "counts, timings and error codes, no text",
    )
    parser.add_argument(
        "--triton",
        action="append",
        default=[],
        type=_triton_url,
        metavar="grpc://HOST:PORT",
        help="run Kokoro's model on NVIDIA Triton Inference Server (repeatable: the least "
        "busy server first, one that fails is passed over); serve the repository of "
        "`wyoming-polytts triton-repository DIR` there",
    )
    parser.add_argument("--debug", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def parse_settings(argv: Optional[Sequence[str]] = None) -> Settings:
    """Parse the command line into `Settings`."""
    args = build_parser().parse_args(argv)
    return Settings(
        uri=args.uri,
        data_dir=args.data_dir,
        voice=args.voice,
        speed=args.speed,
        samples_per_chunk=args.samples_per_chunk,
        whole_sentences=args.whole_sentences,
        decode_windows=args.decode_windows,
        kokoro_model=args.kokoro_model,
        kokoro_voices=args.kokoro_voices,
        kokoro_precision=args.kokoro_precision,
        kokoro_runtime=args.kokoro_runtime,
        kokoro_torch_model=args.kokoro_torch_model,
        device=args.device,
        download=not args.no_download,
        zipvoice=not args.no_zipvoice,
        zipvoice_model=args.zipvoice_model,
        zipvoice_variant=args.zipvoice_variant,
        zipvoice_steps=args.zipvoice_steps,
        zipvoice_guidance=args.zipvoice_guidance,
        zipvoice_t_shift=args.zipvoice_t_shift,
        zipvoice_threads=args.zipvoice_threads,
        transcriber=not args.no_transcriber,
        whisper_model=args.whisper_model,
        whisper_size=args.whisper_size,
        workers=args.workers,
        max_queue=args.max_queue,
        max_text=args.max_text,
        idle_timeout=args.idle_timeout,
        write_timeout=args.write_timeout,
        threads=args.threads,
        http_uri=None if args.no_http else _http_uri(args.http_uri),
        admin_token=args.admin_token,
        api_keys=_api_keys(args.api_keys),
        prompt_cache_size=args.prompt_cache_size,
        prompt_cache_hours=args.prompt_cache_hours,
        allow_url_download=args.allow_url_download,
        allow_private_urls=args.allow_private_urls,
        max_prompt_seconds=args.max_prompt_seconds,
        zeroconf_name=args.zeroconf,
        zeroconf_host=args.zeroconf_host,
        ingress_proxies=tuple(args.ingress_proxy),
        supervisor_url=args.supervisor_discovery,
        debug=args.debug,
        metrics_private=args.metrics_private,
        triton=tuple(args.triton),
    )
