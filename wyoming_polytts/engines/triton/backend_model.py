"""A Triton python-backend model that runs one ONNX file with onnxruntime (CPU-only servers,
such as the `tritonserver` bundled with `nvidia-pytriton`, which has no onnxruntime backend).

Copied into a repository as `<model>/1/model.py` beside `model.onnx` by
`wyoming-polytts triton-repository --backend python`; it runs inside Triton's python stub, not
in the server, and needs numpy and onnxruntime there (installed for the stub's Python, or
given by PYTHONPATH). Every input of the ONNX graph is read by name (scalars travel as [1])
and the outputs a request asks for are returned, shaped as onnxruntime gives them.
"""

import json
import os
import sys

# Triton's python stub starts its interpreter without reading PYTHONPATH: its folders (where
# numpy and onnxruntime may be) go first on the path here, as the variable would put them.
_FOLDERS = [folder for folder in os.environ.get("PYTHONPATH", "").split(os.pathsep) if folder]
sys.path[0:0] = [folder for folder in _FOLDERS if folder not in sys.path]

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    """One onnxruntime session; requests run one after another on it."""

    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {
            key: value.get("string_value", "")
            for key, value in config.get("parameters", {}).items()
        }
        folder = os.path.join(args["model_repository"], args["model_version"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "0") or 0)
        options.inter_op_num_threads = 1
        # Every sentence length is a new shape: memory patterns would grow without bound.
        options.enable_mem_pattern = False
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            os.path.join(folder, "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        if int(np.__version__.split(".")[0]) >= 2:
            pb_utils.Logger.log_warn(
                f"numpy {np.__version__}: the python backend of Triton 2.51 (24.10) sends "
                "empty outputs with numpy 2; give its stub numpy<2 (on PYTHONPATH)"
            )
        self.inputs = [(item.name, len(item.shape)) for item in self.session.get_inputs()]
        self.outputs = [item.name for item in self.session.get_outputs()]

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                given = {tensor.name(): tensor for tensor in request.inputs()}
                feeds = {}
                for name, rank in self.inputs:
                    value = given[name].as_numpy()
                    feeds[name] = value.reshape(()) if rank == 0 else value
                names = list(request.requested_output_names()) or self.outputs
                results = self.session.run(names, feeds)
                tensors = []
                for index, name in enumerate(names):
                    result = np.asarray(results[index])
                    if result.ndim == 0:  # a scalar travels as [1]
                        result = result.reshape(1)
                    tensors.append(pb_utils.Tensor(name, np.ascontiguousarray(result)))
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as error:  # noqa: BLE001 - the client hears of it
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(f"{type(error).__name__}: {error}")
                    )
                )
        return responses

    def finalize(self):
        self.session = None
