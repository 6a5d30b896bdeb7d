"""Wyoming text-to-speech server with Kokoro-82M voices."""

__version__ = "0.1.0"
