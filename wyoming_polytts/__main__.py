"""Start-up and shutdown: models, engines, registry, the Wyoming server, admin page, zeroconf."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import sys
from functools import partial
from typing import List, Optional, Sequence, Tuple
from urllib.parse import urlparse

from aiohttp import web
from wyoming.server import AsyncServer, HandlerFactory

from . import __version__, addon, transcriber
from .background import Supervisor
from .discovery import ZeroconfAnnouncer
from .engines.kokoro import KokoroEngine
from .engines.select import kokoro_engine, kokoro_files
from .engines.triton.client import TritonError
from .engines.zipvoice import LANGUAGES as CLONE_LANGUAGES
from .engines.zipvoice import ZipVoiceEngine, ZipVoiceOptions
from .engines.zipvoice.model import VARIANTS, resolve_zipvoice
from .http.app import AdminContext, create_app
from .http.auth import Guard, load_or_create_token
from .http.download import UrlCache, UrlPolicy
from .http.prompts import PromptCache
from .lexicon import Lexicon
from .pipeline import SpeechPipeline
from .presets import Preset, PresetStore
from .registry import PromptLimits, VoiceRegistry
from .scheduler import Scheduler
from .server import (
    ConnectionLimits,
    PolyTtsEventHandler,
    ServiceContext,
    StdioServer,
    TcpServer,
    frame_limits,
)
from .settings import TRITON_CHECK_SECONDS, Settings, parse_settings
from .text import ClausePolicy
from .transcriber import Transcriber
from .voice_learning import VoiceLearning
from .voices import VoiceCatalog
from .watcher import DataWatcher

_LOGGER = logging.getLogger("wyoming_polytts")
PRESETS_FILE = "presets.json"
# Two sentences, once the streaming decoder is in: the sentences it learns the default voice
# from (`kokoro.stats.VOICE_SENTENCES`), so its first answer streams. Each is
# decoded whole, so each is within `settings.MAX_LEARN_FRAMES` (about 5 s and 2.7 s): a longer
# one would not teach the voice; a longer pair teaches it better than two short ones.
WARM_UP_TEXTS = (
    "The living room lights are now off, and the front door is locked for the night.",
    "Okay, I set a timer for ten minutes.",
)


async def serve(settings: Settings) -> None:
    """Run the server until it is stopped (SIGINT/SIGTERM)."""
    files = kokoro_files(settings)
    _LOGGER.info("Kokoro model: %s (%s)", files.model, files.source)
    _LOGGER.info("Kokoro voice packs: %s", files.voices)
    engine = kokoro_engine(settings, files)
    engine.whole_first = True  # answers do not wait for the streaming decoder (`_load`)
    kokoro_names = {spec.name for spec in engine.voices()}
    presets = PresetStore(settings.data_dir / PRESETS_FILE)
    registry = VoiceRegistry(
        settings.data_dir / "voices",
        languages=CLONE_LANGUAGES,
        limits=PromptLimits(max_seconds=settings.max_prompt_seconds),
        is_reserved=lambda name: name in kokoro_names or name in presets,
        removal_guard=presets.keeping_bases,  # a clone a preset speaks with stays
        claim_guard=presets.held,  # a clone and a preset never take one name
    )
    registry.load()
    clones = _zipvoice(settings, registry)
    catalog = VoiceCatalog([engine, clones], default_voice=settings.voice, presets=presets)
    registry.on_change(catalog.refresh)
    _log_voices(engine)

    scheduler = Scheduler(settings.workers, max_queued=settings.max_queue)
    lexicon = Lexicon(settings.data_dir / "lexicon.json", _spoken_languages(catalog))
    watcher = _share(registry, presets, lexicon, catalog)
    pipeline = SpeechPipeline(scheduler, speed=settings.speed, lexicon=lexicon)
    context = ServiceContext(
        catalog=catalog,
        pipeline=pipeline,
        samples_per_chunk=settings.samples_per_chunk,
        clause_policy=ClausePolicy(enabled=not settings.whole_sentences),
        limits=ConnectionLimits(
            frames=frame_limits(settings.max_text),
            text_chars=settings.max_text,
            idle_seconds=settings.idle_timeout,
            write_seconds=settings.write_timeout,
        ),
    )
    server = _wyoming_server(settings.uri)
    handler_factory = partial(PolyTtsEventHandler, context)
    jobs = Supervisor()
    # Both ports are bound before any model loads: a port in use ends the start at once.
    try:
        await _listen(server, handler_factory, settings.uri)
        admin, admin_context = await _start_admin(
            settings, registry, catalog, pipeline, lexicon, presets, jobs, clones
        )
    except StartError:
        await server.stop()
        scheduler.shutdown()
        raise
    learning = VoiceLearning(scheduler, engine)
    learning.follow(presets)
    jobs.start(
        "kokoro",
        _load(scheduler, engine, _warm_up_voice(catalog, engine), learning, catalog),
        on_failure=partial(_kokoro_failed, catalog, engine),
        report=engine.start_up_report,
    )
    jobs.start(
        "zipvoice",
        _prepare_clones(settings, clones, scheduler, catalog),
        on_failure=partial(_clones_failed, catalog, clones),
    )
    if admin_context is not None:
        jobs.start(
            "transcriber",
            _prepare_transcriber(settings, admin_context),
            on_failure=partial(_transcriber_failed, admin_context),
        )
    announcer = _zeroconf_announcer(settings)
    if announcer is not None:
        jobs.start("zeroconf", _announce(settings, announcer))
    if settings.supervisor_url is not None:
        jobs.start("supervisor-discovery", _supervisor_discovery(settings))
    _LOGGER.info("Listening on %s (default voice %s)", settings.uri, catalog.default().name)
    watcher.start()
    try:
        await server.run(handler_factory)
    finally:
        watcher.stop()
        engine.stop()  # a first start's model preparation would hold the exit for a minute
        await jobs.stop()
        await learning.stop()
        if admin is not None:
            await admin.cleanup()
        if announcer is not None:
            await announcer.stop()
        scheduler.shutdown()
        _LOGGER.info("Stopped")


def _share(
    registry: VoiceRegistry, presets: PresetStore, lexicon: Lexicon, catalog: VoiceCatalog
) -> DataWatcher:
    """Make the stores follow what other servers on the data dir change: a watcher rereads
    them (started by the caller), a name not known yet rereads them at once, and a preset is
    checked against the clones on disk (under the presets' lock, which a clone's
    registration holds as it takes its name, on every server)."""
    watcher = DataWatcher([registry, presets, lexicon])
    catalog.reread = watcher.reread_now

    def check_preset(preset: Preset) -> None:
        registry.reread()
        catalog.check_preset(preset)

    presets.check = check_preset
    return watcher


def _zipvoice(settings: Settings, registry: VoiceRegistry) -> ZipVoiceEngine:
    """The clone engine; its model is found (or downloaded) after the port opens."""
    variant = VARIANTS[settings.zipvoice_variant]
    options = ZipVoiceOptions(
        steps=settings.zipvoice_steps or variant.steps,
        guidance_scale=settings.zipvoice_guidance or variant.guidance_scale,
        t_shift=settings.zipvoice_t_shift,
        threads=settings.zipvoice_threads,
        provider="cuda" if settings.device == "cuda" else "cpu",
    )
    engine = ZipVoiceEngine(registry, None, options)
    engine.attach(None, "the ZipVoice model is being prepared" if settings.zipvoice else "")
    return engine


async def _prepare_clones(
    settings: Settings, clones: ZipVoiceEngine, scheduler: Scheduler, catalog: VoiceCatalog
) -> Optional[str]:
    """Find or download the ZipVoice model in the background, then load it; without one,
    say why (the supervisor shows it as `unavailable`)."""
    files = None
    if settings.zipvoice:
        files = await asyncio.to_thread(
            resolve_zipvoice,
            settings.data_dir,
            model=settings.zipvoice_model,
            variant=settings.zipvoice_variant,
            download=settings.download,
        )
    clones.attach(files)
    missing = None
    if not settings.zipvoice:
        missing = "voice clones are off (--no-zipvoice)"
    elif files is None:
        missing = (
            "no ZipVoice model: voice clones can be registered but not spoken (start once "
            "with internet access to download it, or give --zipvoice-model DIR)"
        )
        _LOGGER.warning(missing)
    else:
        await scheduler.run(clones.load)  # a failure goes to the supervisor
    await asyncio.to_thread(catalog.refresh)
    return missing


def _spoken_languages(catalog: VoiceCatalog) -> List[str]:
    """Every language some voice speaks, and the clone languages: what the lexicon takes."""
    tags = {tag for voice in catalog.voices() for tag in voice.spec.languages}
    return sorted(tags | set(CLONE_LANGUAGES))


def _clones_failed(catalog: VoiceCatalog, clones: ZipVoiceEngine, reason: str) -> None:
    """Clones say why they cannot speak, in `describe` and on the page."""
    clones.attach(None, f"the ZipVoice model could not be prepared ({reason})")
    catalog.refresh()


def _kokoro_failed(catalog: VoiceCatalog, engine: KokoroEngine, reason: str) -> None:
    catalog.mark_unavailable(engine.name, f"the Kokoro model could not be loaded ({reason})")


async def _load(
    scheduler: Scheduler,
    engine: KokoroEngine,
    warm_voice: str,
    learning: VoiceLearning,
    catalog: VoiceCatalog,
) -> None:
    """Load the unsplit model while the port already answers `describe`, then prepare the
    streaming decoder (on a first start, a minute) while sentences are decoded whole. Both
    run beside the worker pool: answers never wait behind them. Then the default voice, the
    presets' and the recent ones are learnt in the background. On Triton, the parts are
    loaded there once a server answers (`_connect_triton`)."""
    if engine.remote is not None:
        await _connect_triton(engine, catalog)
    else:
        await asyncio.to_thread(engine.load_whole)
    _LOGGER.info("Kokoro model loaded; ready to speak")
    if await asyncio.to_thread(engine.prepare_streaming):
        try:
            for text in WARM_UP_TEXTS:
                # nobody listens: after every answer's call
                await scheduler.run(engine.synthesize, text, warm_voice, 1.0, deadline=math.inf)
        except TritonError as err:  # Triton went away: answers say so; it is learnt later
            _LOGGER.warning("Kokoro prepared, but its warm-up on Triton failed: %s", err)
        else:
            _LOGGER.info("Kokoro prepared: the streaming decoder speaks, the default voice learnt")
        learning.want([warm_voice, *engine.recent_voices()])
    else:
        _LOGGER.info("Kokoro prepared: sentences are decoded whole")
    learning.attach(asyncio.get_running_loop())


async def _connect_triton(engine: KokoroEngine, catalog: VoiceCatalog) -> None:
    """Until a Triton server serves this model's parts and the decoder is made on it, the
    Kokoro voices are listed as not installed, with the reason; asked again every
    `TRITON_CHECK_SECONDS`."""
    assert engine.remote is not None
    said = None
    while True:
        problem = await asyncio.to_thread(engine.remote_problem)
        if problem is None:
            try:
                await asyncio.to_thread(engine.prepare_streaming)
            except TritonError as err:  # gone again while the decoder was made
                problem = str(err)
            else:
                if said is not None:
                    catalog.mark_available(engine.name)
                    _LOGGER.info("Triton answers: the Kokoro voices speak")
                return
        if problem != said:
            _LOGGER.warning(
                "Kokoro on Triton cannot speak yet (asked again every %g s): %s",
                TRITON_CHECK_SECONDS,
                problem,
            )
            catalog.mark_unavailable(engine.name, f"Triton is not ready: {problem}")
            said = problem
        await asyncio.sleep(TRITON_CHECK_SECONDS)


async def _start_admin(
    settings: Settings,
    registry: VoiceRegistry,
    catalog: VoiceCatalog,
    pipeline: SpeechPipeline,
    lexicon: Lexicon,
    presets: PresetStore,
    jobs: Supervisor,
    clones: ZipVoiceEngine,
) -> Tuple[Optional[web.AppRunner], Optional[AdminContext]]:
    """The admin page, its API and the OpenAI-style API on --http-uri, in this event loop."""
    if settings.http_uri is None:
        return None, None
    parsed = urlparse(settings.http_uri)
    cache_seconds = settings.prompt_cache_hours * 3600
    context = AdminContext(
        registry=registry,
        catalog=catalog,
        guard=Guard(
            load_or_create_token(settings.data_dir, settings.admin_token),
            api_keys=settings.api_keys,
            trusted_proxies=settings.ingress_proxies,
        ),
        url_policy=UrlPolicy(
            allow_private=settings.allow_private_urls,
            max_bytes=registry.limits.max_bytes,
        ),
        url_cache=UrlCache(
            settings.data_dir / "cache" / "downloads",
            max_entries=settings.prompt_cache_size,
            max_age_seconds=cache_seconds,
        ),
        allow_url_download=settings.allow_url_download,
        pipeline=pipeline,
        lexicon=lexicon,
        presets=presets,
        jobs=jobs,
        transcriber_missing="speech recognition is still starting; try again shortly",
        clones=clones if settings.zipvoice else None,
        prompt_cache=PromptCache(settings.prompt_cache_size, cache_seconds),
        clause_policy=ClausePolicy(enabled=not settings.whole_sentences),
        max_text=settings.max_text,
        write_seconds=settings.write_timeout,
        metrics_private=settings.metrics_private,
    )
    runner = web.AppRunner(create_app(context), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, parsed.hostname, parsed.port).start()
    except OSError as err:
        await runner.cleanup()
        raise StartError(_cannot_listen(settings.http_uri, err)) from None
    _LOGGER.info(
        "Admin page on %s, OpenAI-style speech at %s/v1/audio/speech (%s), API docs at %s/docs",
        settings.http_uri,
        settings.http_uri,
        "API key needed" if settings.api_keys else "open",
        settings.http_uri,
    )
    return runner, context


async def _prepare_transcriber(settings: Settings, context: AdminContext) -> Optional[str]:
    """Find (or download) the Whisper model in the background; the page says meanwhile."""
    context.transcriber = await asyncio.to_thread(_transcriber, settings)
    if context.transcriber is None:
        context.transcriber_missing = "speech recognition is off or not installed (the [asr] extra)"
        return context.transcriber_missing
    return None


def _transcriber_failed(context: AdminContext, reason: str) -> None:
    context.transcriber_missing = f"speech recognition could not start ({reason})"


def _transcriber(settings: Settings) -> Optional[Transcriber]:
    """faster-whisper for prompt transcripts, when its extra is installed and wanted."""
    if not settings.transcriber:
        return None
    if not transcriber.available():
        _LOGGER.info("No speech recognition (install the [asr] extra): transcripts are typed")
        return None
    folder = transcriber.resolve_whisper(
        settings.data_dir, settings.whisper_model, settings.whisper_size, settings.download
    )
    if folder is None:
        return None
    # Loaded at the first transcript (device `auto` is decided then), released when idle.
    _LOGGER.info("Prompt transcripts by Whisper from %s (loaded when needed)", folder)
    return Transcriber(folder, device=settings.device, threads=settings.threads)


class StartError(Exception):
    """The server cannot start (a port in use, say); the message says why, in one line."""


def _wyoming_server(uri: str) -> AsyncServer:
    """The Wyoming server for `uri`; over stdio too, every connection limit applies."""
    parsed = urlparse(uri)
    if parsed.scheme == "stdio":
        return StdioServer()
    if parsed.scheme == "tcp" and parsed.hostname is not None and parsed.port is not None:
        return TcpServer(parsed.hostname, parsed.port)
    return AsyncServer.from_uri(uri)


async def _listen(server: AsyncServer, handler_factory: HandlerFactory, uri: str) -> None:
    """Bind a TCP server's port now (the others bind when they run)."""
    if isinstance(server, TcpServer):
        try:
            await server.listen(handler_factory)
        except OSError as err:
            raise StartError(_cannot_listen(uri, err)) from None


def _cannot_listen(uri: str, err: OSError) -> str:
    if err.errno == errno.EADDRINUSE:
        return f"Cannot listen on {uri}: the port is already in use (is the server running?)"
    return f"Cannot listen on {uri}: {err.strerror or err}"


def _zeroconf_announcer(settings: Settings) -> Optional[ZeroconfAnnouncer]:
    """The announcer of `--zeroconf`, not started yet."""
    if settings.zeroconf_name is None:
        return None
    parsed = urlparse(settings.uri)
    if parsed.scheme != "tcp" or parsed.port is None:
        raise SystemExit("--zeroconf needs a tcp:// --uri with a port")
    return ZeroconfAnnouncer(settings.zeroconf_name, parsed.port, settings.zeroconf_host)


async def _announce(settings: Settings, announcer: ZeroconfAnnouncer) -> None:
    """Announce by zeroconf once the Wyoming port is open: a client that hears of the
    server connects at once."""
    parsed = urlparse(settings.uri)
    assert parsed.port is not None
    await addon.wait_listening(parsed.hostname or "", parsed.port)
    await announcer.start()


async def _supervisor_discovery(settings: Settings) -> None:
    """Tell Home Assistant, through the Supervisor, where to find the open port."""
    assert settings.supervisor_url is not None
    parsed = urlparse(settings.uri)
    token = os.environ.get("SUPERVISOR_TOKEN", "")
    if parsed.scheme != "tcp" or parsed.port is None or not token:
        raise RuntimeError("needs a tcp:// --uri with a port and $SUPERVISOR_TOKEN")
    await addon.wait_listening(parsed.hostname or "", parsed.port)
    await addon.announce(settings.supervisor_url, token, parsed.port)


def _warm_up_voice(catalog: VoiceCatalog, engine: KokoroEngine) -> str:
    """A Kokoro voice to warm up with: the default voice's, else the first one installed."""
    default = catalog.default()
    if default.engine is engine:
        return default.engine_voice
    specs = engine.voices()
    return next((spec.name for spec in specs if spec.installed), specs[0].name)


def _log_voices(engine: KokoroEngine) -> None:
    specs = engine.voices()
    for language in sorted({lang for spec in specs for lang in spec.languages}):
        _LOGGER.info("G2P for %s: %s", language, engine.phonemizer.describe(language))
    installed = [spec.name for spec in specs if spec.installed]
    missing = [spec.name for spec in specs if not spec.installed]
    _LOGGER.info("%d voices ready: %s", len(installed), ", ".join(installed))
    if missing:
        _LOGGER.warning(
            "%d voices lack a G2P and are not installed: %s", len(missing), ", ".join(missing)
        )


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Console entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["triton-repository"]:
        from .engines.triton import repository

        repository.main(args[1:])
        return
    settings = parse_settings(args)
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _LOGGER.info("wyoming-polytts %s", __version__)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except StartError as err:
        _LOGGER.error("%s", err)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
