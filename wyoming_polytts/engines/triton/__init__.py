"""Kokoro's model parts on NVIDIA Triton Inference Server: the repository that serves them
(`repository`) and the sessions that call them (`client`)."""
