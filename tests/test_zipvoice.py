"""ZipVoice: tokens, the engine on the real sherpa-onnx runtime (tiny model), downloads."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from wyoming_polytts.engines.base import SynthesisError, mark_phonemes
from wyoming_polytts.engines.zipvoice import LANGUAGES, ZipVoiceEngine
from wyoming_polytts.engines.zipvoice import model as zipvoice_model
from wyoming_polytts.engines.zipvoice.model import find_zipvoice_files, resolve_zipvoice
from wyoming_polytts.engines.zipvoice.text import ZipVoiceTokenizer
from wyoming_polytts.models import ModelNotFoundError
from wyoming_polytts.registry import VoiceRegistry

from .helpers import encode, voice_like
from .zipvoice_tiny import build_tiny_zipvoice, seconds_for


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_zipvoice(tmp_path_factory.mktemp("zipvoice") / "model")


@pytest.fixture
def engine(tmp_path: Path, tiny_model: Path) -> Iterator[ZipVoiceEngine]:
    registry = VoiceRegistry(tmp_path / "voices", LANGUAGES)
    registry.load()
    registry.register("grandma", "Hello world.", "en-US", encode(voice_like(3.0)), "test")
    yield ZipVoiceEngine(registry, find_zipvoice_files(tiny_model, "tiny test model"))


def test_the_lexicon_comes_first_and_espeak_spells_the_rest(tiny_model: Path) -> None:
    tokenizer = ZipVoiceTokenizer(tiny_model / "tokens.txt", tiny_model / "lexicon.txt")
    tokens, spelled, dropped = tokenizer.tokenize("Hello, World!")
    assert tokens == ["h", "ə", "l", "ˈ", "o", "ʊ", ",", "w", "ˈ", "ɜ", "ː", "l", "d", "!"]
    assert spelled == [] and dropped == []
    tokens, spelled, dropped = tokenizer.tokenize("Hello Kubernetes.")
    assert spelled == ["kubernetes"] and dropped == []
    assert tokens[:6] == ["h", "ə", "l", "ˈ", "o", "ʊ"] and "b" in tokens and tokens[-1] == "."


def test_chinese_by_longest_match_then_by_character(tiny_model: Path) -> None:
    tokenizer = ZipVoiceTokenizer(tiny_model / "tokens.txt", tiny_model / "lexicon.txt")
    tokens, spelled, dropped = tokenizer.tokenize("你好，谢谢。日")
    assert tokens == ["n", "i3", "h", "ao3", ",", "x", "ie4", "x", "ie4", "."]
    assert dropped == ["日"]  # reported, never silently lost
    _, _, dropped = tokenizer.tokenize("Ωμέγα")  # not ASCII: espeak-ng is not asked
    assert dropped == ["ωμέγα"]


def test_hyphenated_words_use_their_parts(tiny_model: Path) -> None:
    tokenizer = ZipVoiceTokenizer(tiny_model / "tokens.txt", tiny_model / "lexicon.txt")
    assert tokenizer.tokenize("good-morning")[0] == tokenizer.tokenize("good morning")[0]


def test_a_clone_speaks_through_sherpa_onnx(engine: ZipVoiceEngine) -> None:
    engine.load()
    hello = engine.synthesize("Hello world.", "grandma", 1.0)
    assert hello.dtype == np.float32
    assert len(hello) / 24000 == pytest.approx(seconds_for(13), abs=0.02)
    assert np.sqrt(np.mean(hello**2)) > 1e-3  # not silence
    # A word the lexicon lacks is spoken, not skipped: the audio grows with it.
    longer = engine.synthesize("Hello kubernetes world.", "grandma", 1.0)
    assert len(longer) > len(hello) * 1.8


def test_unknown_clones_and_unpronounceable_text_fail_clearly(engine: ZipVoiceEngine) -> None:
    with pytest.raises(SynthesisError, match="No registered voice"):
        engine.synthesize("Hello world.", "nobody", 1.0)
    with pytest.raises(SynthesisError, match="cannot pronounce"):
        engine.synthesize("日日日", "grandma", 1.0)


def test_deleting_a_clone_forgets_its_prompt(engine: ZipVoiceEngine) -> None:
    engine.synthesize("Hello world.", "grandma", 1.0)
    engine.registry.delete("grandma")
    with pytest.raises(SynthesisError, match="No registered voice"):
        engine.synthesize("Hello world.", "grandma", 1.0)


def test_without_a_model_clones_are_listed_but_not_installed(tmp_path: Path) -> None:
    registry = VoiceRegistry(tmp_path / "voices", LANGUAGES)
    registry.load()
    registry.register("grandma", "Hello world.", "en-US", encode(voice_like(2.0)), "test")
    engine = ZipVoiceEngine(registry, None)
    [spec] = engine.voices()
    assert spec.installed is False and "not installed" in spec.description
    with pytest.raises(SynthesisError, match="not installed"):
        engine.synthesize("Hello.", "grandma", 1.0)


# What sherpa-onnx publishes, by name (never downloaded here), with where each is published.
PUBLISHED_TTS_MODELS = {  # assets of the `tts-models` release, without `.tar.bz2`
    # k2-fsa/sherpa-onnx .github/workflows/upload-zipvoice-models.yaml:50 (uploaded to the
    # release `tts-models`, line 135); python-api-examples/zipvoice-tts.py:12
    "sherpa-onnx-zipvoice-distill-int8-zh-en-emilia",
    # k2-fsa/sherpa-onnx .github/workflows/upload-zipvoice-models.yaml:92
    "sherpa-onnx-zipvoice-distill-fp32-zh-en-emilia",
    # The full (not distilled) model: in no file of k2-fsa/sherpa-onnx; listed among the
    # release's assets in XDcobra/react-native-sherpa-onnx test/fixtures/tts-models-expected.csv:197
    "sherpa-onnx-zipvoice-zh-en-emilia",
}
# k2-fsa/sherpa-onnx python-api-examples/zipvoice-tts.py:16
PUBLISHED_VOCODER = ("vocoder-models", "vocos_24khz.onnx")


def test_every_variant_downloads_a_published_archive() -> None:
    assert {v.archive for v in zipvoice_model.VARIANTS.values()} <= PUBLISHED_TTS_MODELS
    assert zipvoice_model.VARIANTS["zipvoice"].archive == "sherpa-onnx-zipvoice-zh-en-emilia"
    assert zipvoice_model.VOCODER == PUBLISHED_VOCODER
    assert zipvoice_model.REPOSITORY == "k2-fsa/sherpa-onnx"


def test_the_full_models_archive_layout_is_found(tmp_path: Path, tiny_model: Path) -> None:
    """The full export names its files differently and has no lexicon.txt."""
    folder = tmp_path / "sherpa-onnx-zipvoice-zh-en-emilia"
    folder.mkdir()
    for name, source in (
        ("text_encoder.onnx", "encoder.onnx"),
        ("text_encoder_int8.onnx", "encoder.onnx"),
        ("fm_decoder.onnx", "decoder.onnx"),
        ("fm_decoder_int8.onnx", "decoder.onnx"),
        ("tokens.txt", "tokens.txt"),
    ):
        (folder / name).write_bytes((tiny_model / source).read_bytes())
    (folder / "pinyin.raw").write_bytes(b"")
    (tmp_path / "vocos_24khz.onnx").write_bytes((tiny_model / "vocos_24khz.onnx").read_bytes())
    files = find_zipvoice_files(tmp_path, "test")
    assert (files.encoder.name, files.decoder.name) == ("text_encoder.onnx", "fm_decoder.onnx")
    assert files.tokens == folder / "tokens.txt" and files.lexicon is None


def test_an_incomplete_model_folder_is_refused(tmp_path: Path, tiny_model: Path) -> None:
    (tmp_path / "tokens.txt").write_text("a 0\n")
    with pytest.raises(ModelNotFoundError, match="encoder"):
        find_zipvoice_files(tmp_path, "test")


# -- the download, from a local HTTP server ---------------------------------------------------


@pytest.fixture
def release_server(tiny_model: Path, tmp_path: Path) -> Iterator[dict]:
    """A local stand-in for the GitHub release downloads and the releases API."""
    import http.server
    import threading

    variant = zipvoice_model.VARIANTS["zipvoice_distill"]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:bz2") as bundle:
        for name in ("encoder.onnx", "decoder.onnx", "tokens.txt", "lexicon.txt"):
            bundle.add(tiny_model / name, arcname=f"{variant.archive}/{name}")
    files = {
        f"/download/tts-models/{variant.archive}.tar.bz2": archive.getvalue(),
        "/download/vocoder-models/vocos_24khz.onnx": (tiny_model / "vocos_24khz.onnx").read_bytes(),
    }
    digests = {
        path.rsplit("/", 1)[1]: hashlib.sha256(body).hexdigest() for path, body in files.items()
    }
    state = {"digests": digests, "requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state["requests"].append(self.path)
            if self.path.startswith("/api/repos/k2-fsa/sherpa-onnx/releases/tags/"):
                assets = [{"name": n, "digest": f"sha256:{d}"} for n, d in state["digests"].items()]
                body = json.dumps({"assets": assets}).encode()
            elif self.path in files:
                body = files[self.path]
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    saved = (zipvoice_model.RELEASES_URL, zipvoice_model.GITHUB_API)
    zipvoice_model.RELEASES_URL, zipvoice_model.GITHUB_API = f"{base}/download", f"{base}/api"
    try:
        yield state
    finally:
        zipvoice_model.RELEASES_URL, zipvoice_model.GITHUB_API = saved
        server.shutdown()


def test_the_official_model_is_downloaded_checked_and_reused(
    tmp_path: Path, release_server: dict
) -> None:
    files = resolve_zipvoice(tmp_path)
    assert files is not None and files.lexicon is not None
    assert files.encoder.parent == tmp_path / "zipvoice" / "zipvoice_distill" / (
        zipvoice_model.VARIANTS["zipvoice_distill"].archive
    )
    assert files.vocoder.name == "vocos_24khz.onnx"
    count = len(release_server["requests"])
    assert resolve_zipvoice(tmp_path) == files  # the second start uses the download
    assert len(release_server["requests"]) == count
    assert resolve_zipvoice(tmp_path / "other", download=False) is None


def test_two_servers_starting_on_one_data_dir_download_the_model_once(
    tmp_path: Path, release_server: dict
) -> None:
    """The second waits for the first's download (a lock beside the folder), then uses it."""
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: resolve_zipvoice(tmp_path), range(2)))
    assert found[0] is not None and found[0] == found[1]
    archives = [r for r in release_server["requests"] if r.endswith(".tar.bz2")]
    assert len(archives) == 1, release_server["requests"]


def test_a_download_that_does_not_match_its_digest_is_refused(
    tmp_path: Path, release_server: dict
) -> None:
    release_server["digests"]["vocos_24khz.onnx"] = "0" * 64
    assert resolve_zipvoice(tmp_path) is None
    folder = tmp_path / "zipvoice" / "zipvoice_distill"
    assert not (folder / ".complete").exists() and not (folder / "vocos_24khz.onnx").exists()


def test_a_prompt_read_while_its_clone_is_replaced_is_not_cached(
    engine: ZipVoiceEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone re-registered mid-synthesis is spoken with its new prompt afterwards."""
    registry = engine.registry
    read = registry.prompt_samples

    def read_then_replace(name: str) -> np.ndarray:
        samples = read(name)
        monkeypatch.setattr(registry, "prompt_samples", read)
        registry.delete(name)
        registry.register(name, "Good morning.", "en-US", encode(voice_like(2.5)), "test")
        return samples

    monkeypatch.setattr(registry, "prompt_samples", read_then_replace)
    engine.synthesize("Hello world.", "grandma", 1.0)  # read the old prompt, then replaced
    assert engine._prompt("grandma").transcript == "Good morning."


def test_marked_phonemes_become_tokens_as_they_are(tiny_model: Path) -> None:
    tokenizer = ZipVoiceTokenizer(tiny_model / "tokens.txt", tiny_model / "lexicon.txt")
    tokens, spelled, dropped = tokenizer.tokenize(f"Hello {mark_phonemes('wˈɜːld')}!")
    assert tokens == ["h", "ə", "l", "ˈ", "o", "ʊ", "w", "ˈ", "ɜ", "ː", "l", "d", "!"]
    assert spelled == [] and dropped == []
