"""Request and response models of the HTTP API (pydantic): they validate the bodies of the
OpenAI-style routes and describe every route in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any, Callable, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator

from ..presets import MAX_SPEED, MIN_SPEED
from ..settings import DIALOGUE_MAX_PAUSE_SECONDS, DIALOGUE_MAX_TURNS, DIALOGUE_PAUSE_SECONDS

ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
CaptionFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm", "vtt", "srt"]


class _Lenient(BaseModel):
    """A request body: fields that other servers know and this one does not are ignored."""

    model_config = ConfigDict(extra="ignore")


# -- OpenAI-style speech ----------------------------------------------------------------------


class SpeechRequest(_Lenient):
    """OpenAI's `POST /v1/audio/speech` body, with Kokoro-FastAPI's `stream`."""

    model: str = Field(
        "tts-1",
        description="tts-1, tts-1-hd, gpt-4o-mini-tts (the voice's own engine), kokoro or zipvoice",
    )
    input: str = Field(
        min_length=1, description="the text to speak (plain, or SSML starting with <speak>)"
    )
    voice: Optional[str] = Field(
        None,
        description="a voice name, a blend such as af_bella(2)+af_sky(1), a clone, or an OpenAI "
        "voice (alloy, echo, ...: the Kokoro voice of that name, else the default voice)",
    )
    response_format: ResponseFormat = Field(
        "mp3", description="pcm is raw 16-bit little-endian mono at 24 kHz"
    )
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    stream: bool = Field(
        True, description="send audio as it is spoken (chunked), instead of the whole file at once"
    )
    instructions: Optional[str] = Field(None, description="accepted and ignored")


class CaptionedSpeechRequest(SpeechRequest):
    """Kokoro-FastAPI's `POST /dev/captioned_speech` body: a speech request, with captions."""

    response_format: CaptionFormat = Field(  # type: ignore[assignment]
        "mp3",
        description="an audio format (the answer is JSON with the audio in base64), or vtt or "
        "srt for the captions alone as a file",
    )
    stream: bool = Field(
        True,
        description="one JSON object per line (NDJSON) as the audio is made, each with its "
        "stretch of audio and the words whose audio ends in it",
    )
    return_timestamps: bool = Field(True, description="false: timestamps is null")


class WordTimestamp(BaseModel):
    """When a word is spoken, in seconds from the start of the audio."""

    word: str
    start_time: float
    end_time: float


class CaptionedSpeech(BaseModel):
    """Audio and its word timings (a whole answer, or one line of a streamed one)."""

    audio: str = Field(description="the audio (or this line's stretch of it) in base64")
    audio_format: str = Field(description="the audio's media type")
    timestamps: Optional[List[WordTimestamp]] = Field(
        description="the words, each in the line whose audio completes it, timed from the "
        "start of the whole answer; voice clones give none"
    )


class ZipVoiceSpeechRequest(SpeechRequest):
    """Speech in a cloned voice: registered, or a prompt given with the request."""

    model: str = "zipvoice"
    voice: str = Field(
        min_length=1,
        description="a registered voice, url+https://... or base64+<audio as base64>",
    )
    prompt_text: Optional[str] = Field(
        None,
        description="what is said in a URL or base64 prompt (a registered voice has its own); "
        "without it the server transcribes the prompt when it can",
    )
    num_steps: Optional[int] = Field(None, ge=1, le=32, description="flow-matching steps")
    guidance_scale: Optional[float] = Field(None, ge=0.1, le=10)
    remove_long_silence: bool = Field(True, description="shorten pauses longer than 0.5 s")
    max_duration: Optional[float] = Field(
        None, ge=0.1, le=3600, description="seconds of audio at most; the rest is not spoken"
    )


PLACE = "left, center, right, or a pan from -1 (left) to 1 (right)"


def _one_place(value: object, handler: Callable[[object], object]) -> object:
    """A place, or one error that says what a place is (not one per kind it could be)."""
    try:
        return handler(value)
    except ValidationError:
        raise ValueError(f"a place is {PLACE}") from None


Place = Annotated[
    Union[
        Literal["left", "center", "right"],
        Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)],
    ],
    WrapValidator(_one_place),
]


class DialogueTurn(_Lenient):
    """One turn of a dialogue."""

    voice: Optional[str] = Field(
        None, description="any voice, blend, preset or clone, as in /v1/audio/speech"
    )
    text: str = Field(min_length=1, description="plain text, or SSML starting with <speak>")
    place: Optional[Place] = Field(
        None, description=f"{PLACE}; else the voice's place in `places`, else center"
    )
    pause: Optional[float] = Field(
        None,
        ge=0,
        le=DIALOGUE_MAX_PAUSE_SECONDS,
        allow_inf_nan=False,
        description="seconds of silence after this turn (else the dialogue's `pause`)",
    )


class DialogueRequest(_Lenient):
    """`POST /v1/audio/dialogue`: turns of several voices as one answer."""

    model: str = Field("tts-1", description="as in /v1/audio/speech; checked for every voice")
    turns: List[DialogueTurn] = Field(min_length=1, max_length=DIALOGUE_MAX_TURNS)
    pause: float = Field(
        DIALOGUE_PAUSE_SECONDS,
        ge=0,
        le=DIALOGUE_MAX_PAUSE_SECONDS,
        allow_inf_nan=False,
        description="seconds of silence between two turns",
    )
    channels: Optional[Literal[1, 2]] = Field(
        None, description="1 (mono) or 2 (stereo); default 2 when a place is given, else 1"
    )
    places: Dict[str, Place] = Field(
        default_factory=dict,
        description=f"where each voice (by name, as in turns) is heard: {PLACE}",
    )
    response_format: CaptionFormat = Field(
        "mp3",
        description="pcm is raw 16-bit little-endian at 24 kHz, stereo interleaved; vtt or srt: "
        "the captions alone, each naming its speaker",
    )
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    stream: bool = Field(True, description="send audio as it is spoken, turn by turn (chunked)")
    return_timestamps: bool = Field(
        False,
        description="answer as /dev/captioned_speech does: JSON with the audio in base64 and "
        "each word's start_time, end_time and speaker (the voice of its turn), one object per "
        "line when streamed",
    )


class ModelInfo(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "wyoming-polytts"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: List[ModelInfo]


class VoiceNames(BaseModel):
    """Kokoro-FastAPI's voice list: the names of the voices that can speak."""

    voices: List[str]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: Optional[str] = None
    code: Optional[str] = None


class OpenAIError(BaseModel):
    """How every /v1 route answers an error."""

    error: OpenAIErrorDetail


# -- the origin's ZipVoice voice routes ------------------------------------------------------


class VoiceRegistration(BaseModel):
    """`POST /v1/zipvoice/voices/register`, as a multipart form (or JSON without the file)."""

    name: str = Field(description="1-64 of a-z, 0-9, '-' and '_'")
    transcription: Optional[str] = Field(
        None, description="what is said in the recording; transcribed when left out, if it can be"
    )
    audio_file: Optional[bytes] = Field(
        None, json_schema_extra={"format": "binary"}, description="the recording"
    )
    audio_base64: Optional[str] = None
    url: Optional[str] = Field(None, description="needs --allow-url-download")
    language: Optional[str] = Field(None, description="en-US (default), en-GB or zh")


class ZipVoiceInfo(BaseModel):
    name: str
    language: str
    duration: float
    sample_rate: int
    created: str
    installed: bool
    transcription: Optional[str] = Field(
        None, description="shown with the admin token or an API key"
    )


class ZipVoiceList(BaseModel):
    voices: List[ZipVoiceInfo]
    total: int


class Deleted(BaseModel):
    deleted: str


class CacheCleared(BaseModel):
    prepared_prompts: int
    downloads: int
    url_and_base64_prompts: int = 0


# -- the admin API ---------------------------------------------------------------------------


class AdminError(BaseModel):
    """How every /api route answers an error."""

    error: str
    code: str


class Login(BaseModel):
    token: str


class Authenticated(BaseModel):
    authenticated: bool


class AdminVoiceForm(BaseModel):
    """A recording and its facts, as a multipart form (or JSON with base64 or a URL)."""

    name: Optional[str] = None
    language: Optional[str] = None
    transcript: Optional[str] = None
    audio: Optional[bytes] = Field(None, json_schema_extra={"format": "binary"})
    audio_base64: Optional[str] = None
    url: Optional[str] = None


class ClonedVoiceInfo(BaseModel):
    """A registered clone, as `POST /api/voices` answers it and `GET /api/voices` shows it
    under `clone` (there with `prompt_url`; without a secret, no transcript or source)."""

    model_config = ConfigDict(extra="allow")

    name: str
    language: str
    duration: float = Field(description="seconds of the stored prompt")
    sample_rate: int
    created: str
    sha256: str
    transcript: Optional[str] = None
    source: Optional[str] = None
    kept: Optional[List[float]] = Field(
        None,
        min_length=2,
        max_length=2,
        description="[start, end]: the part of the recording as given that the prompt is, in "
        "seconds, after its silence was trimmed; null for a voice registered before this "
        "was recorded",
    )


class Preview(BaseModel):
    text: Optional[str] = Field(None, max_length=300)
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED, description="times the voice's own speed")
    words: bool = Field(
        False, description="answer JSON as /dev/captioned_speech does: the WAV and word times"
    )


class PresetChange(BaseModel):
    """A voice preset: a Kokoro voice, blend or clone spoken at a speed."""

    voice: str = Field(
        description="a Kokoro voice, a blend such as af_sarah(1)+am_adam(2), or a clone"
    )
    speed: float = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    description: Optional[str] = Field(None, max_length=200)


class NewPreset(PresetChange):
    name: str = Field(description="1-64 of a-z, 0-9, '-' and '_'")


class LexiconChange(BaseModel):
    say: Optional[str] = None
    phonemes: Optional[str] = None
    case_sensitive: bool = False


class JsonObject(BaseModel):
    """A JSON object; see the README for its fields."""

    model_config = ConfigDict(extra="allow")


def json_object_list() -> Dict[str, Any]:
    """The schema of a JSON array of objects."""
    return {"type": "array", "items": {"type": "object"}}


# -- status -----------------------------------------------------------------------------------


class StatusHistory(BaseModel):
    """The last hour, one point per interval (the current one last), column by column."""

    time: List[float] = Field(description="each interval's start (Unix seconds)")
    answers: List[int] = Field(description="answers that sent their first audio in it")
    first_audio_p50: List[Optional[float]] = Field(description="their median first audio (s)")
    first_audio_max: List[Optional[float]] = Field(description="their slowest first audio (s)")
    in_progress: List[int] = Field(description="the most answers in progress at once")
    queued: List[int] = Field(description="the most calls waiting for a worker at once")
    stalls: List[int]
    errors: List[int]
    busy: List[int] = Field(description="requests refused as busy")
    rss_bytes: List[Optional[int]] = Field(description="resident memory at its end")


class StatusNow(BaseModel):
    in_progress: int
    queued: int
    rss_bytes: Optional[int] = None


class StatusError(BaseModel):
    at: float = Field(description="when (Unix seconds)")
    door: str = Field(description="wyoming, http, preview or admin")
    code: str
    status: Optional[int] = Field(None, description="the HTTP status")
    message: Optional[str] = Field(
        None, description="shown with the admin token or an API key (it may quote a text)"
    )


class Status(BaseModel):
    """The server's own figures for the admin page's status panel."""

    interval: float = Field(description="seconds per point of the history")
    history: StatusHistory
    now: StatusNow
    ready: Dict[str, Dict[str, Any]] = Field(description="start-up jobs, as /api/health says")
    errors: List[StatusError] = Field(description="the most recent first")
