"""Calls serving with NVIDIA's Python tritonclient (grpc and http), exactly as a Triton user would, and prints what it
observed as one JSON document on stdout. The assertions live in tritonclient.int.spec.ts; this script only reports.

Usage: python oip_checks.py <http host:port> <grpc host:port> <model> <version>  (rows as JSON on stdin:
{"rows": [{column: value, ...}, ...]})
"""

import json
import sys
import urllib.error
import urllib.request

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def column(rows, name, datatype):
    """One input column as the numpy array tritonclient expects for its datatype."""
    values = [row.get(name) for row in rows]
    if datatype == "BYTES":
        return np.array([("" if v is None else str(v)).encode("utf-8") for v in values], dtype=np.object_)
    dtype = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "INT32": np.int32}[datatype]
    return np.array([np.nan if v is None else v for v in values], dtype=dtype)


def observed(result, names):
    """Each output read with as_numpy: its numpy dtype and its values (bytes decoded as UTF-8)."""
    outputs = {}
    for name in names:
        array = result.as_numpy(name)
        if array is None:
            outputs[name] = None
            continue
        values = [v.decode("utf-8") if isinstance(v, bytes) else v for v in array.tolist()]
        outputs[name] = {"dtype": str(array.dtype), "shape": list(array.shape), "values": values}
    response = result.get_response()
    if not isinstance(response, dict):
        response = {
            "model_version": response.model_version,
            "parameters": {k: v.string_param for k, v in response.parameters.items()},
        }
    return {
        "model_version": response.get("model_version"),
        "prediction_id": (response.get("parameters") or {}).get("prediction_id"),
        "outputs": outputs,
    }


def status_of(call):
    """The status tritonclient reports for a failing call, or None when the call succeeded."""
    try:
        call()
    except InferenceServerException as error:
        return {"status": error.status(), "message": error.message()}
    return None


def malformed_http(url, model):
    """POSTs a body that is not JSON, as a broken client would: the status and what the body says."""
    request = urllib.request.Request(
        f"http://{url}/v2/models/{model}/infer",
        data=b'{"inputs": [{"name": "age", ',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return {"status": str(response.status), "message": response.read().decode("utf-8")}
    except urllib.error.HTTPError as error:
        return {"status": str(error.code), "message": error.read().decode("utf-8")}


def malformed_grpc(url):
    """Sends ModelInfer bytes that are not a ModelInferRequest (a string field running past the message), over the
    grpcio channel tritonclient itself uses: tritonclient's own calls always serialize a valid message."""
    with grpc.insecure_channel(url) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        try:
            call(b"\x0a\x7fadult", timeout=30)
        except grpc.RpcError as error:
            return {"status": str(error.code()), "message": error.details()}
    return None


def inputs_for(module, metadata, rows, binary):
    inputs = []
    for spec in metadata["inputs"]:
        array = column(rows, spec["name"], spec["datatype"])
        tensor = module.InferInput(spec["name"], list(array.shape), spec["datatype"])
        if binary is None:
            tensor.set_data_from_numpy(array)
        else:
            tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def http_checks(url, model, version, rows):
    client = httpclient.InferenceServerClient(url=url)
    metadata = client.get_model_metadata(model)
    output_names = [o["name"] for o in metadata["outputs"]]

    def infer(binary_inputs, binary_outputs, model_version=""):
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary_outputs) for n in output_names]
        inputs = inputs_for(httpclient, metadata, rows, binary_inputs)
        result = client.infer(model, inputs, model_version=model_version, outputs=outputs, request_id="tc-http")
        return observed(result, output_names)

    wrong = [httpclient.InferInput(metadata["inputs"][0]["name"], [1], "BOOL")]
    wrong[0].set_data_from_numpy(np.array([True]), binary_data=False)
    return {
        "server_live": client.is_server_live(),
        "server_ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "version_ready": client.is_model_ready(model, version),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "server_metadata": client.get_server_metadata(),
        "model_metadata": metadata,
        "version_metadata": client.get_model_metadata(model, version),
        "typed": infer(False, False),
        "binary": infer(True, True),
        "typed_in_binary_out": infer(False, True, version),
        "errors": {
            "unknown_model": status_of(lambda: client.infer("no-such-model", inputs_for(httpclient, metadata, rows, False))),
            "unknown_version": status_of(
                lambda: client.infer(model, inputs_for(httpclient, metadata, rows, False), model_version="999")
            ),
            "wrong_datatype": status_of(lambda: client.infer(model, wrong)),
            "metadata_unknown_model": status_of(lambda: client.get_model_metadata("no-such-model")),
            "malformed": malformed_http(url, model),
        },
    }


def grpc_checks(url, model, version, rows):
    client = grpcclient.InferenceServerClient(url=url)
    metadata = client.get_model_metadata(model, as_json=True)
    output_names = [o["name"] for o in metadata["outputs"]]

    def infer(model_version="", requested=True):
        outputs = [grpcclient.InferRequestedOutput(n) for n in output_names] if requested else None
        inputs = inputs_for(grpcclient, metadata, rows, None)
        result = client.infer(model, inputs, model_version=model_version, outputs=outputs, request_id="tc-grpc")
        return observed(result, output_names)

    wrong = [grpcclient.InferInput(metadata["inputs"][0]["name"], [1], "BYTES")]
    wrong[0].set_data_from_numpy(np.array([b"forty"], dtype=np.object_))
    return {
        "server_live": client.is_server_live(),
        "server_ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "version_ready": client.is_model_ready(model, version),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "server_metadata": client.get_server_metadata(as_json=True),
        "model_metadata": metadata,
        "raw": infer(),
        "raw_all_outputs": infer(version, requested=False),
        "errors": {
            "unknown_model": status_of(lambda: client.infer("no-such-model", inputs_for(grpcclient, metadata, rows, None))),
            "unknown_version": status_of(
                lambda: client.infer(model, inputs_for(grpcclient, metadata, rows, None), model_version="999")
            ),
            "wrong_datatype": status_of(lambda: client.infer(model, wrong)),
            "metadata_unknown_model": status_of(lambda: client.get_model_metadata("no-such-model")),
            "malformed": malformed_grpc(url),
        },
    }


def main():
    http_url, grpc_url, model, version = sys.argv[1:5]
    rows = json.load(sys.stdin)["rows"]
    report = {
        "http": http_checks(http_url, model, version, rows),
        "grpc": grpc_checks(grpc_url, model, version, rows),
    }
    json.dump(report, sys.stdout, default=lambda value: value.item() if hasattr(value, "item") else str(value))


if __name__ == "__main__":
    main()
