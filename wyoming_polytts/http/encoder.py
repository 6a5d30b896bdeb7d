"""Audio formats of the HTTP speech API, encoded piece by piece as the audio is spoken.

PyAV (FFmpeg) encodes and muxes: MP3 frames, Ogg/Opus pages, ADTS AAC, FLAC and WAV. A
streamed answer is muxed into a write-only sink, so FFmpeg writes what a reader can play at
once (WAV with the "unknown size" header of live streams); a whole answer is muxed into a
seekable buffer, so the headers that FFmpeg fills in at the end (WAV and FLAC sizes, the MP3
Xing frame) are right. `pcm` is raw 16-bit little-endian, no container. Answers are mono,
or stereo (a dialogue's voices placed left and right): PCM and WAV samples interleaved.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..audio import to_pcm16


@dataclass(frozen=True)
class AudioFormat:
    """How one `response_format` is made and served."""

    container: Optional[str]  # FFmpeg muxer; None for raw PCM
    codec: str
    sample_format: str  # what the encoder takes
    content_type: str
    bit_rate: Optional[int] = None
    frame_size: Optional[int] = None  # samples per frame, for encoders that need a fixed size
    muxer_options: Tuple[Tuple[str, str], ...] = ()

    @property
    def costly(self) -> bool:
        """Whether encoding takes real CPU time (lossy codecs: about 8 ms per second of
        audio on a busy 2-core machine), so that it belongs off the event loop."""
        return self.bit_rate is not None


FORMATS: Dict[str, AudioFormat] = {
    "mp3": AudioFormat("mp3", "libmp3lame", "s16p", "audio/mpeg", 64_000, 1152),
    # An Ogg page per 20 ms Opus packet, not per second: each packet leaves at once.
    "opus": AudioFormat(
        "ogg", "libopus", "s16", "audio/ogg", 32_000, 480, (("page_duration", "20000"),)
    ),
    "aac": AudioFormat("adts", "aac", "fltp", "audio/aac", 64_000, 1024),
    "flac": AudioFormat("flac", "flac", "s16", "audio/flac"),
    "wav": AudioFormat("wav", "pcm_s16le", "s16", "audio/wav"),
    "pcm": AudioFormat(None, "pcm_s16le", "s16", "audio/pcm"),
}


LAYOUTS = {1: "mono", 2: "stereo"}  # FFmpeg's channel layouts, by number of channels


def load() -> None:
    """Import PyAV (60 ms and more): done in a thread at start, so that the first encoded
    answer does not import it on the event loop."""
    import av  # noqa: F401


class _Sink(io.RawIOBase):
    """A write-only, unseekable file: FFmpeg muxes into it as into a live stream."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: List[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        block = bytes(data)  # type: ignore[call-overload]
        self._parts.append(block)
        return len(block)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class AudioEncoder:
    """Float samples in, encoded bytes out: `encode` as audio comes, `finish` at the end.

    `channels` is 1 (mono) or 2 (stereo: `encode` takes (frames, 2) arrays; mono samples
    given to a stereo encoder go to both channels).

    With `streaming`, every call returns what a client can be sent now; without, the bytes
    all come from `finish` (one seekable file). Not thread-safe: one caller at a time.
    """

    def __init__(
        self, response_format: str, rate: int, streaming: bool = True, channels: int = 1
    ) -> None:
        if channels not in LAYOUTS:
            raise ValueError(f"{channels} channels: only mono and stereo are encoded")
        self.format = FORMATS[response_format]
        self.rate = rate
        self.streaming = streaming
        self.channels = channels
        self.layout = LAYOUTS[channels]
        self._output: Optional[io.IOBase] = None
        self._container: Any = None  # av.container.OutputContainer
        self._stream: Any = None  # av.AudioStream
        self._resampler: Any = None  # av.AudioResampler
        if self.format.container is not None:
            self._open()

    def _open(self) -> None:
        import av

        self._output = _Sink() if self.streaming else io.BytesIO()
        container = av.open(
            self._output,
            mode="w",
            format=self.format.container,
            options=dict(self.format.muxer_options),
        )
        stream: Any = container.add_stream(self.format.codec, rate=self.rate)
        stream.layout = self.layout
        if self.format.bit_rate:
            stream.bit_rate = self.format.bit_rate
        self._container, self._stream = container, stream
        self._resampler = av.AudioResampler(
            format=self.format.sample_format,
            layout=self.layout,
            rate=self.rate,
            frame_size=self.format.frame_size,
        )

    def encode(self, samples: np.ndarray) -> bytes:
        """Add samples (float32 in [-1, 1] at `rate`, (frames, channels) when stereo);
        returns the bytes ready to send."""
        samples = np.asarray(samples, dtype=np.float32)
        if self.channels > 1 and samples.ndim == 1:
            samples = np.repeat(samples[:, None], self.channels, axis=1)
        if self._container is None:
            return to_pcm16(samples)  # C order: frames interleaved
        import av

        pcm = np.frombuffer(to_pcm16(samples), dtype="<i2").reshape(1, -1)
        if pcm.size:
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=self.layout)
            frame.sample_rate = self.rate
            self._mux(self._resampler.resample(frame))
        return self._take()

    def finish(self) -> bytes:
        """Flush the encoder and close the container; returns the last bytes."""
        if self._container is None:
            return b""
        self._mux(self._resampler.resample(None))
        self._container.mux(self._stream.encode(None))
        self._container.close()
        if isinstance(self._output, io.BytesIO):
            return self._output.getvalue()
        return self._take()

    def _mux(self, frames: list) -> None:
        for frame in frames:
            self._container.mux(self._stream.encode(frame))

    def _take(self) -> bytes:
        return self._output.take() if isinstance(self._output, _Sink) else b""
