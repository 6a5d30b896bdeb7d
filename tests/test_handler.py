"""The Wyoming handler in process, with a fake engine: order, limits, drops and half-closes."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from typing import Any, Callable, List

import numpy as np
import pytest
from wyoming.client import AsyncTcpClient
from wyoming.event import Event, write_event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from wyoming_polytts import server as server_module
from wyoming_polytts.presets import MIN_SPEED
from wyoming_polytts.server import ConnectionLimits
from wyoming_polytts.settings import MAX_PIECE_CHARS, MAX_TEXT_CHARS
from wyoming_polytts.text import SentenceStream

from .fake_engine import RATE, StreamingFakeEngine, read_until, serve_fake, types

SENTENCES = " ".join(f"Sentence number {n} of a long answer is here." for n in range(1, 31))


def reset(client: AsyncTcpClient) -> None:
    """Drop the connection as a crashed client does: a TCP reset, not an orderly close."""
    assert client._writer is not None
    sock = client._writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client._writer.transport.abort()


async def test_synthesize_gives_one_audio_stream() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Synthesize(text="Hello there. How are you?").event())
        events = await read_until(client, "audio-stop")
    assert types(events)[0] == "audio-start"
    assert types(events).count("audio-start") == 1
    assert set(types(events)[1:-1]) == {"audio-chunk"}
    assert server.engine.calls == ["Hello there.", "How are you?"]


async def test_describe_waits_for_the_answer_in_progress() -> None:
    """`info` never lands between `audio-start` and `audio-stop` of a running answer."""
    async with serve_fake() as server, server.client() as client:
        server.engine.gate.clear()  # the answer cannot finish until we say so
        await client.write_event(Synthesize(text="One. Two. Three.").event())
        first = await client.read_event()
        assert first is not None and first.type == "audio-start"
        await client.write_event(Describe().event())
        await asyncio.sleep(0.05)  # give a wrong implementation the chance to answer early
        server.engine.gate.set()
        events = await read_until(client, "info")
    assert types(events)[-2:] == ["audio-stop", "info"]
    assert "info" not in types(events)[:-1]


def assert_outside_audio(events: List[Event], kind: str = "info") -> None:
    """Events of `kind` never come between an `audio-start` and its `audio-stop`."""
    inside = False
    for event in events:
        if event.type in ("audio-start", "audio-stop"):
            inside = event.type == "audio-start"
        assert not (event.type == kind and inside), types(events)


async def test_describe_is_answered_while_a_stream_waits_for_text() -> None:
    """A client may wait for `info` before it ends its stream: `info` comes at once."""
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="Hello there").event())
        await client.write_event(Describe().event())
        assert types(await read_until(client, "info", timeout=10)) == ["info"]
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    assert types(events)[0] == "audio-start" and "info" not in types(events)
    assert server.engine.calls == ["Hello there"]


async def test_describe_in_a_stream_waits_for_the_sentence_being_sent() -> None:
    """`info` asked for while a streamed sentence is sent comes right after its `audio-stop`,
    still before the client ends the stream."""
    engine = StreamingFakeEngine(stretches=3)
    async with serve_fake(engine=engine) as server, server.client() as client:
        engine.later_gate.clear()  # the sentence's later stretches cannot be made yet
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="The first one is here. The next").event())
        events = await read_until(client, "audio-chunk")
        await client.write_event(Describe().event())
        await asyncio.sleep(0.05)  # give a wrong implementation the chance to answer early
        engine.later_gate.set()
        events += await read_until(client, "info", timeout=10)
        await client.write_event(SynthesizeStop().event())
        events += await read_until(client, "synthesize-stopped")
    assert_outside_audio(events)
    kinds = [kind for kind in types(events) if kind != "audio-chunk"]
    assert kinds == ["audio-start", "audio-stop", "info", "audio-start", "audio-stop"] + [
        "synthesize-stopped"
    ]
    assert server.engine.calls == ["The first one is here.", "The next"]


@pytest.mark.timeout(30)
async def test_a_client_that_never_reads_is_reset_when_its_connection_closes() -> None:
    """The audio fits in the kernel's buffers, so no write ever times out; the connection is
    closed when idle, and what the client never took is dropped with a reset, not kept."""
    limits = ConnectionLimits(write_seconds=0.3, idle_seconds=0.3)
    async with serve_fake(limits) as server:
        server.engine.seconds_per_char = 0.1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(10)  # a connection kept open fails the test, never hangs it
            sock.connect(("127.0.0.1", server.port))
            with sock.makefile("wb") as stream:
                for _ in range(2):  # about 130 kB of audio each
                    write_event(Synthesize(text="Hello there, this is a test.").event(), stream)
            while not server.handlers:  # the connection is being accepted
                await asyncio.sleep(0.01)
            await server.handlers_done()
            with pytest.raises(ConnectionResetError):
                await asyncio.to_thread(_read_to_the_end, sock)


def _read_to_the_end(sock: socket.socket) -> None:
    while sock.recv(65536):
        pass


NOTHING_TO_SAY = ["   ", "...", "🙂 **"]  # no piece; unspeakable pieces; emoji and Markdown


def silence_of(events: List[Event]) -> np.ndarray:
    pcm = b"".join(event.payload or b"" for event in events if event.type == "audio-chunk")
    return np.frombuffer(pcm, dtype=np.int16)


@pytest.mark.parametrize("text", NOTHING_TO_SAY)
async def test_a_stream_with_nothing_to_say_still_carries_audio(text: str) -> None:
    """Home Assistant builds its WAV from the first `audio-start`: without one it fails."""
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text=text).event())
        await client.write_event(Synthesize(text=text).event())  # as Home Assistant does
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    kinds = [kind for kind in types(events) if kind != "audio-chunk"]
    assert kinds == ["audio-start", "audio-stop", "synthesize-stopped"]
    audio = silence_of(events)
    assert audio.size > 0 and not audio.any()  # silence
    assert server.engine.calls == []


@pytest.mark.parametrize("text", NOTHING_TO_SAY)
async def test_a_synthesize_with_nothing_to_say_is_silence(text: str) -> None:
    """A one-shot answer too (Home Assistant's one-shot path builds its WAV from the first
    `audio-chunk`): silence, not an error."""
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Synthesize(text=text).event())
        events = await read_until(client, "audio-stop")
    assert types(events)[0] == "audio-start" and set(types(events)[1:-1]) == {"audio-chunk"}
    audio = silence_of(events)
    assert audio.size > 0 and not audio.any()
    assert server.engine.calls == []


async def test_a_stream_that_failed_before_any_audio_is_an_error_not_silence() -> None:
    """A failure stays a failure (Home Assistant reports it) rather than silence."""
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="FAIL at once.").event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    assert types(events) == ["error", "synthesize-stopped"]


async def test_a_stalled_reader_is_dropped_and_its_work_stops() -> None:
    """A client that stops reading is cut off: the connection ends, no synthesis is left."""
    limits = ConnectionLimits(write_seconds=0.3, idle_seconds=0.5)
    async with serve_fake(limits) as server:
        server.engine.seconds_per_char = 0.2  # about 10 s of audio (480 kB) per sentence
        async with server.client(receive_buffer=4096) as client:
            for _ in range(2):
                await client.write_event(Synthesize(text=SENTENCES).event())
            await server.handlers_done()  # hangs here if the stalled client is kept
            assert server.scheduler._queued == 0
            assert server.engine.running == 0
            assert len(server.engine.calls) < 10  # of 60 sentences asked for


async def test_an_open_stream_without_text_is_idle() -> None:
    """A stream that is started and never fed does not hold the connection for ever."""
    async with serve_fake(ConnectionLimits(idle_seconds=0.3)) as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await server.handlers_done()
        assert await client.read_event() is None


async def test_a_client_listening_to_a_long_answer_is_not_idle() -> None:
    async with serve_fake(ConnectionLimits(idle_seconds=0.3)) as server, server.client() as client:
        server.engine.seconds_per_char = 0.05  # the answer takes longer than the idle time
        text = " ".join(f"Sentence number {n} of a long answer is here." for n in range(12))
        await client.write_event(Synthesize(text=text).event())
        events = await read_until(client, "audio-stop")
    assert "error" not in types(events)
    assert len(server.engine.calls) == 12


async def test_a_dropped_client_cancels_its_synthesis() -> None:
    async with serve_fake() as server:
        async with server.client() as client:
            await client.write_event(Synthesize(text=SENTENCES).event())
            await read_until(client, "audio-chunk")
        await server.handlers_done()
        await asyncio.sleep(0.05)  # a synthesis that was still queued would start now
        assert len(server.engine.calls) <= 3  # of 30: the one sent, one ahead, one running
        assert server.scheduler._queued == 0


async def test_a_half_closed_client_still_gets_its_answer() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Synthesize(text="Answer me. Then close.").event())
        assert client._writer is not None
        client._writer.write_eof()
        events = await read_until(client, "audio-stop")
        assert await client.read_event() is None  # then the server closes
    assert types(events).count("audio-chunk") > 0


async def test_a_half_closed_stream_is_finished_with_what_it_has() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="Half of a stream").event())
        assert client._writer is not None
        client._writer.write_eof()
        events = await read_until(client, "synthesize-stopped")
    assert "audio-chunk" in types(events)
    assert server.engine.calls == ["Half of a stream"]


async def test_a_stream_fallback_text_obeys_the_text_limit() -> None:
    """The whole text repeated as `synthesize` in a stream is held to --max-text too."""
    async with serve_fake(ConnectionLimits(text_chars=100)) as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(Synthesize(text=SENTENCES).event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    assert types(events) == ["error", "synthesize-stopped"]
    assert events[0].data["code"] == "text-too-long"
    assert server.engine.calls == []


async def test_a_stream_fallback_that_is_not_text_still_ends_the_stream() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(Event(type="synthesize", data={"text": 42}))
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
        assert types(events) == ["error", "synthesize-stopped"]
        await client.write_event(Synthesize(text="Still here.").event())
        assert "audio-chunk" in types(await read_until(client, "audio-stop"))


async def test_streamed_pieces_are_spoken_in_order_with_errors_before_the_end() -> None:
    async with serve_fake(ConnectionLimits(text_chars=60)) as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        for text in ("First one here. ", "Second one here. ", "x" * 40):
            await client.write_event(SynthesizeChunk(text=text).event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    assert server.engine.calls == ["First one here.", "Second one here."]
    assert types(events).count("audio-start") == 2
    assert types(events)[-2:] == ["error", "synthesize-stopped"]
    assert events[-2].data["code"] == "text-too-long"


async def test_a_failed_piece_ends_the_stream_cleanly() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="Fine. Then FAIL here. And more.").event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    kinds = types(events)
    assert kinds.index("error") > kinds.index("audio-stop")  # the first piece was spoken
    assert events[kinds.index("error")].data["code"] == "synthesis-failed"
    assert kinds.count("audio-start") == kinds.count("audio-stop") == 1


async def test_a_piece_that_fails_halfway_closes_its_audio_before_the_error() -> None:
    """Read out, the numbers make several engine calls of one piece; the last one fails."""
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="1234567 " * 40 + "FAIL").event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    kinds = [kind for kind in types(events) if kind != "audio-chunk"]
    assert len(server.engine.calls) > 1
    assert kinds == ["audio-start", "audio-stop", "error", "synthesize-stopped"]
    assert "audio-chunk" in types(events)  # the calls before the failure were spoken


async def test_cancelled_calls_do_not_fill_the_queue() -> None:
    """Clients that left do not make the next one `busy`."""
    async with serve_fake(max_queue=2) as server:
        server.engine.gate.clear()
        for _ in range(3):  # each leaves a running or queued call behind, then is gone
            async with server.client() as client:
                await client.write_event(Synthesize(text="One. Two. Three.").event())
                await read_until(client, "audio-start")
                reset(client)
        await server.handlers_done()
        server.engine.gate.set()
        async with server.client() as client:
            await client.write_event(Synthesize(text="Am I busy?").event())
            events = await read_until(client, "audio-stop")
    assert "error" not in types(events)


async def test_a_malformed_synthesize_is_ended() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Event(type="synthesize", data={"voice": {"name": "fake_one"}}))
        assert types(await read_until(client, "audio-stop")) == ["error", "audio-stop"]
        await client.write_event(Synthesize(text="x" * (MAX_TEXT_CHARS + 1)).event())
        refused = await read_until(client, "audio-stop")
    assert types(refused) == ["error", "audio-stop"]
    assert refused[0].data["code"] == "text-too-long"


DIALOGUE = (
    "<speak><voice name='fake_one'>Is the door locked?</voice>"
    "<break time='500ms'/><voice name='fake_two'>Yes, it is.</voice></speak>"
)


async def test_an_ssml_dialogue_is_one_audio_stream_in_two_voices() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Synthesize(text=DIALOGUE, text_format="ssml").event())
        events = await read_until(client, "audio-stop")
    assert types(events).count("audio-start") == 1 and "error" not in types(events)
    assert server.engine.voices_used == ["fake_one", "fake_two"]
    assert server.engine.calls == ["Is the door locked?", "Yes, it is."]
    pcm = b"".join(event.payload or b"" for event in events if event.type == "audio-chunk")
    samples = np.frombuffer(pcm, dtype=np.int16)
    quiet = np.flatnonzero(samples == 0)
    assert quiet.size >= int(0.44 * RATE)  # the break (less the next piece's lead) is silence


async def test_streamed_ssml_is_spoken_when_it_is_complete() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart(text_format="ssml").event())
        for part in (DIALOGUE[:30], DIALOGUE[30:]):
            await client.write_event(SynthesizeChunk(text=part).event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    assert "error" not in types(events)
    assert server.engine.voices_used == ["fake_one", "fake_two"]


async def test_bad_ssml_is_refused_and_the_request_ended() -> None:
    async with serve_fake() as server, server.client() as client:
        for document, code in (
            ("<speak>unclosed", "bad-ssml"),
            ("<!DOCTYPE s [<!ENTITY a 'aaaa'>]><speak>&a;&a;</speak>", "bad-ssml"),
            ("<speak><voice name='nobody'>Hi</voice></speak>", "unknown-voice"),
        ):
            await client.write_event(Synthesize(text=document, text_format="ssml").event())
            events = await read_until(client, "audio-stop")
            assert types(events) == ["error", "audio-stop"]
            assert events[0].data["code"] == code
        await client.write_event(Synthesize(text="Still here.").event())
        assert "audio-chunk" in types(await read_until(client, "audio-stop"))
    assert server.engine.calls == ["Still here."]


def error_codes(events: list) -> list:
    return [event.data["code"] for event in events if event.type == "error"]


def audio_samples(events: list) -> int:
    return sum(len(event.payload or b"") for event in events if event.type == "audio-chunk") // 2


async def test_nested_slow_rates_give_audio_of_bounded_length() -> None:
    """Eight nested 50% rates asked for 1/256 of the speed (13 GB with Kokoro): held to the
    slowest speed an engine is given."""
    text = "Hello there."
    document = "<speak>" + "<prosody rate='50%'>" * 8 + text + "</prosody>" * 8 + "</speak>"
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Synthesize(text=document).event())
        events = await read_until(client, "audio-stop")
    assert "error" not in types(events)
    longest = RATE * server.engine.seconds_per_char * len(text) / MIN_SPEED
    assert 0 < audio_samples(events) <= longest


DEEP = "<speak>" + "<s>" * 1200 + "Hi." + "</s>" * 1200 + "</speak>"
LONG_ORDINAL = "<speak><say-as interpret-as='ordinal'>" + "9" * 400 + "</say-as></speak>"


async def test_ssml_nested_too_deep_is_refused_and_the_connection_stays() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Synthesize(text=DEEP).event())
        refused = await read_until(client, "audio-stop")
        await client.write_event(Describe().event())
        await read_until(client, "info")
        await client.write_event(Synthesize(text=LONG_ORDINAL).event())
        digits = await read_until(client, "audio-stop")
    assert error_codes(refused) == ["bad-ssml"] and "audio-chunk" not in types(refused)
    assert not any("Malformed" in event.data["text"] for event in refused if event.type == "error")
    assert "error" not in types(digits) and audio_samples(digits) > 0
    assert " ".join(server.engine.calls).split() == ["nine"] * 400  # in capped calls


async def test_streamed_ssml_nested_too_deep_ends_the_stream() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(SynthesizeStart(text_format="ssml").event())
        for start in range(0, len(DEEP), 1000):
            await client.write_event(SynthesizeChunk(text=DEEP[start : start + 1000]).event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
        await client.write_event(Describe().event())
        await read_until(client, "info")
    assert error_codes(events) == ["bad-ssml"] and "audio-chunk" not in types(events)
    assert server.engine.calls == []


async def test_a_client_cannot_hand_phonemes_to_the_engine() -> None:
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Synthesize(text="Hi \ue000x\ue001 there.").event())
        await read_until(client, "audio-stop")
    assert server.engine.calls == ["Hi x there."]


async def test_ssml_is_recognized_without_a_text_format() -> None:
    """Home Assistant's `tts.speak` sends no text_format: a text that starts with <speak is SSML."""
    async with serve_fake() as server, server.client() as client:
        await client.write_event(Synthesize(text=DIALOGUE).event())
        assert "error" not in types(await read_until(client, "audio-stop"))
        await client.write_event(SynthesizeStart().event())
        for part in ("  <spe", "ak><voice name='fake_two'>Hi.</voice></speak>"):
            await client.write_event(SynthesizeChunk(text=part).event())
        await client.write_event(SynthesizeStop().event())
        assert "error" not in types(await read_until(client, "synthesize-stopped"))
        await client.write_event(SynthesizeStart().event())
        for part in ("Hi", " there. ", "Bye."):  # plain text, first chunk short
            await client.write_event(SynthesizeChunk(text=part).event())
        await client.write_event(SynthesizeStop().event())
        await read_until(client, "synthesize-stopped")
    assert server.engine.voices_used[2] == "fake_two"
    assert server.engine.calls[2:] == ["Hi.", "Hi there.", "Bye."]


async def test_an_answer_that_has_begun_is_not_cut_off_by_busy() -> None:
    """Under a full queue new requests get `busy`; the ones taken are spoken to the end."""
    async with serve_fake(max_queue=2) as server:
        server.engine.gate.clear()

        async def ask() -> list:
            async with server.client() as client:
                await client.write_event(Synthesize(text="One here. Two here. Three.").event())
                return await read_until(client, "audio-stop")

        asking = [asyncio.ensure_future(ask()) for _ in range(6)]
        await asyncio.sleep(0.1)  # every request has reached the scheduler
        server.engine.gate.set()
        answers = await asyncio.gather(*asking)
    served = [events for events in answers if "audio-chunk" in types(events)]
    refused = [events for events in answers if "error" in types(events)]
    assert served and refused
    for events in served:  # begun, so finished: no error in the middle
        assert "error" not in types(events)
    for events in refused:
        assert [e.data["code"] for e in events if e.type == "error"] == ["busy"]


async def test_a_sentence_is_sent_while_it_is_still_being_decoded() -> None:
    """A streaming engine's first stretch is on the wire before its next one exists."""
    engine = StreamingFakeEngine(stretches=3)
    async with serve_fake(engine=engine) as server, server.client() as client:
        engine.later_gate.clear()  # the sentence's later stretches cannot be made yet
        await client.write_event(Synthesize(text="The living room lights are now off.").event())
        events = await read_until(client, "audio-chunk")
        assert types(events) == ["audio-start", "audio-chunk"]
        assert engine.stretches_made and len(engine.stretches_made) == 1
        engine.later_gate.set()
        events += await read_until(client, "audio-stop")
    assert types(events).count("audio-start") == 1 and types(events).count("audio-stop") == 1
    assert len(engine.stretches_made) == 3


async def test_streamed_text_frames_each_sentence_once_however_many_stretches() -> None:
    engine = StreamingFakeEngine(stretches=4)
    async with serve_fake(engine=engine) as server, server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="First sentence here. Second one ").event())
        await client.write_event(SynthesizeChunk(text="follows it.").event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    kinds = [kind for kind in types(events) if kind != "audio-chunk"]
    assert kinds == ["audio-start", "audio-stop"] * 2 + ["synthesize-stopped"]
    assert len(engine.stretches_made) == 8


# -- long texts: short engine calls, off the event loop, the whole-text limit -----------------

STORY = "The story goes on and on, as stories do. " * 300  # 12,300 characters


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for `condition` (fails the test after `timeout`)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


async def test_a_text_without_sentence_ends_is_spoken_in_short_calls_between_others() -> None:
    """`"Dr. " * 2500` has no sentence end: it was one engine call of about 30 s that the
    scheduler cannot interrupt, and a one-word request on another connection waited for it."""
    async with serve_fake() as server:
        engine = server.engine
        engine.seconds_per_char = 0.0005
        engine.gate.clear()  # every call waits until the short request is queued
        async with server.client() as long_client, server.client() as short_client:
            await long_client.write_event(Synthesize(text="Dr. " * 2500).event())
            long_answer = asyncio.create_task(read_until(long_client, "audio-stop"))
            await until(lambda: engine.running == 1)
            queued = server.scheduler._queued
            await short_client.write_event(Synthesize(text="Hello.").event())
            await until(lambda: server.scheduler._queued > queued)  # its turn is taken
            engine.gate.set()
            short = await read_until(short_client, "audio-stop")
            long = await long_answer
    assert "error" not in types(short) + types(long)
    assert all(len(call) <= MAX_PIECE_CHARS for call in engine.calls)
    assert len(engine.calls) > 10_000 // MAX_PIECE_CHARS
    assert engine.calls.index("Hello.") <= 2  # after the call running and one queued
    long_calls = [call for call in engine.calls if call != "Hello."]
    assert " ".join(long_calls).replace(".", "").split() == ["Doctor"] * 2500


def _blocking(
    original: Callable[..., Any],
    entered: threading.Event,
    release: threading.Event,
    released: List[bool],
) -> Callable[..., Any]:
    """`original`, first waiting (at most 5 s) until the test sets `release`."""

    def run(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        released.append(release.wait(timeout=5))
        return original(*args, **kwargs)

    return run


@pytest.mark.parametrize("where", ["split", "streamed split", "normalization"])
async def test_text_is_cut_and_normalized_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """`describe` on another connection is answered while a text is being cut or normalized
    (a 10,000-character text held the event loop 0.25 s; Home Assistant waits 1 s for info)."""
    entered, release, released = threading.Event(), threading.Event(), []  # type: ignore[var-annotated]
    async with serve_fake() as server:
        pipeline = server.context.pipeline
        if where == "split":
            blocked = _blocking(server_module.text_pieces, entered, release, released)
            monkeypatch.setattr(server_module, "text_pieces", blocked)
        elif where == "streamed split":
            blocked = _blocking(SentenceStream.add, entered, release, released)
            monkeypatch.setattr(SentenceStream, "add", blocked)
        else:
            blocked = _blocking(pipeline.spoken_text, entered, release, released)
            monkeypatch.setattr(pipeline, "spoken_text", blocked)
        async with server.client() as talker, server.client() as other:
            if where == "streamed split":
                await talker.write_event(SynthesizeStart().event())
                await talker.write_event(SynthesizeChunk(text="A long text. ").event())
                await talker.write_event(SynthesizeStop().event())
            else:
                await talker.write_event(Synthesize(text="A long text.").event())
            assert await asyncio.to_thread(entered.wait, 5)
            await other.write_event(Describe().event())
            assert types(await read_until(other, "info")) == ["info"]
            release.set()  # only now may the text be cut or normalized
            last = "synthesize-stopped" if where == "streamed split" else "audio-stop"
            answer = await read_until(talker, last)
    assert released[0] is True  # the describe was answered while the text was held
    assert "audio-chunk" in types(answer)
    assert server.engine.calls == ["A long text."]


async def test_a_long_message_streamed_as_home_assistant_sends_it_is_spoken() -> None:
    """Home Assistant sends a `tts.speak` message as one chunk, then repeats it whole as
    `synthesize`: 12,324 characters got two errors (one saying "the rest is not spoken") and
    no speech."""
    async with serve_fake() as server, server.client() as client:
        server.engine.seconds_per_char = 0.0005
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text=STORY).event())
        await client.write_event(Synthesize(text=STORY).event())
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    assert "error" not in types(events)
    assert " ".join(server.engine.calls).split() == STORY.split()
    assert all(len(call) <= MAX_PIECE_CHARS for call in server.engine.calls)


async def test_a_stream_over_the_limit_says_once_exactly_what_is_spoken() -> None:
    limits = ConnectionLimits(text_chars=len(STORY) // 2)
    async with serve_fake(limits) as server, server.client() as client:
        server.engine.seconds_per_char = 0.0005
        # As Home Assistant: the message in one chunk, then whole: nothing can be spoken.
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text=STORY).event())
        await client.write_event(Synthesize(text=STORY).event())
        await client.write_event(SynthesizeStop().event())
        refused = await read_until(client, "synthesize-stopped")
        # As a language model: word by word, until the limit.
        await client.write_event(SynthesizeStart().event())
        words = STORY.split(" ")
        for word in words:
            await client.write_event(SynthesizeChunk(text=word + " ").event())
        await client.write_event(Synthesize(text=STORY).event())
        await client.write_event(SynthesizeStop().event())
        cut = await read_until(client, "synthesize-stopped")
    errors = [event.data for event in refused if event.type == "error"]
    assert [error["code"] for error in errors] == ["text-too-long"]
    assert "none of it is spoken" in errors[0]["text"]
    assert "audio-chunk" not in types(refused)
    errors = [event.data for event in cut if event.type == "error"]
    assert [error["code"] for error in errors] == ["text-too-long"]
    spoken = " ".join(server.engine.calls)
    said = int(errors[0]["text"].split("only its first ")[1].split()[0])
    assert said <= limits.text_chars and spoken.split() == STORY[:said].split()
    assert types(cut)[-2:] == ["error", "synthesize-stopped"]  # after the audio


async def test_a_long_text_in_any_script_fits_in_a_frame() -> None:
    """90,000 CJK characters are 270,000 bytes of UTF-8, more than the 256 KiB a frame's data
    could hold."""
    async with serve_fake() as server, server.client() as client:
        server.engine.gate.clear()  # only the start of the answer matters here
        await client.write_event(Synthesize(text="語" * 90_000).event())
        assert types(await read_until(client, "audio-start")) == ["audio-start"]
