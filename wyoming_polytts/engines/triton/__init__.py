"""Kokoro's model parts on NVIDIA Triton Inference Server: the repository that serves them
(`repository`), the sessions that call them (`client`), and nvidia-pytriton's bundled
`tritonserver` run on the CPU for the tests and the benchmark (`bundled`)."""
