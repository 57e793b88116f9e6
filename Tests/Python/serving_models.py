#!/usr/bin/env python3
"""Model-server test helpers: trains small models with xgboost and lightgbm themselves, and checks
a running capstan-serving with tritonclient, a client nobody here wrote.

  serving_models.py train OUT_DIR
      writes binary.json (xgboost binary:logistic, 8 features), multi.json (xgboost
      multi:softprob, 3 classes), lgb_binary.txt (lightgbm binary), inputs.f64 (500 x 8 float64
      rows with NaNs, little-endian row-major) and <model>.pred.f64 (each library's own
      predictions for inputs.f64, row-major).

  serving_models.py tritonclient MODEL_JSON MODEL_NAME HTTP_HOST:PORT GRPC_HOST:PORT [TOKEN]
      sends 200 rows with missing values to the server through tritonclient.http (binary tensor
      data and plain JSON, one batch and single rows) and tritonclient.grpc, and compares every
      answer with xgboost's own predictions for MODEL_JSON within 1e-6. Also checks liveness,
      readiness and metadata through both clients. Prints one line per check; exits 1 on the
      first mismatch.
"""
import os
import sys

import numpy as np

FEATURES = 8


def make_rows(rng, rows):
    x = rng.normal(size=(rows, FEATURES))
    x[:, 5] = rng.exponential(size=rows) * 100.0
    x[rng.random((rows, FEATURES)) < 0.15] = np.nan
    return x


def signal(x):
    z = np.nan_to_num(x, nan=0.2)
    return 1.5 * z[:, 0] - z[:, 1] * z[:, 3] + 0.8 * np.sin(3 * z[:, 2]) + 0.004 * z[:, 5] + 0.5 * z[:, 7]


def train(out):
    import lightgbm as lgb
    import xgboost as xgb

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261202)
    x = make_rows(rng, 2000)
    s = signal(x) + rng.normal(scale=0.5, size=len(x))
    binary = (s > np.median(s)).astype(np.float64)
    multi = np.digitize(s, np.quantile(s, [0.33, 0.66])).astype(np.float64)
    test = make_rows(rng, 500)
    test.astype("<f8").tofile(os.path.join(out, "inputs.f64"))

    params = {"max_depth": 4, "eta": 0.3, "nthread": 1}
    b = xgb.train({**params, "objective": "binary:logistic"}, xgb.DMatrix(x, label=binary, missing=np.nan), 30)
    b.save_model(os.path.join(out, "binary.json"))
    b.predict(xgb.DMatrix(test, missing=np.nan)).astype("<f8").tofile(os.path.join(out, "binary.pred.f64"))

    m = xgb.train({**params, "objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(x, label=multi, missing=np.nan), 20)
    m.save_model(os.path.join(out, "multi.json"))
    m.predict(xgb.DMatrix(test, missing=np.nan)).astype("<f8").tofile(os.path.join(out, "multi.pred.f64"))

    lg = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1}, lgb.Dataset(x, label=binary), 30)
    lg.save_model(os.path.join(out, "lgb_binary.txt"))
    lg.predict(test).astype("<f8").tofile(os.path.join(out, "lgb_binary.pred.f64"))


def fail(message):
    print("FAIL " + message, flush=True)
    sys.exit(1)


def compare(label, got, want):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    if got.shape != want.shape:
        fail(f"{label}: {got.shape[0]} values, expected {want.shape[0]}")
    diff = float(np.max(np.abs(got - want))) if len(got) else 0.0
    if not diff <= 1e-6:
        fail(f"{label}: max |difference| {diff} > 1e-6")
    print(f"ok {label}: {len(got)} values, max |difference| {diff:.3g}", flush=True)


def tritonclient_check(model_path, name, http_url, grpc_url, token=None):
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient
    import xgboost as xgb

    rng = np.random.default_rng(7)
    rows = make_rows(rng, 200).astype(np.float32)
    booster = xgb.Booster(model_file=model_path)
    want = booster.predict(xgb.DMatrix(rows, missing=np.nan))
    def headers():
        # A new dict per call: tritonclient.http adds Inference-Header-Content-Length to the
        # dict it is given, which would leak into the next request.
        return {"Authorization": f"Bearer {token}"} if token else None

    http = httpclient.InferenceServerClient(url=http_url)
    if not http.is_server_live():
        fail("http: server not live")
    if not http.is_server_ready() or not http.is_model_ready(name, headers=headers()):
        fail("http: server or model not ready")
    meta = http.get_model_metadata(name, headers=headers())
    if meta["inputs"][0]["shape"] != [-1, FEATURES]:
        fail(f"http: metadata input shape {meta['inputs'][0]['shape']}")
    input_name, output_name = meta["inputs"][0]["name"], meta["outputs"][0]["name"]
    if token:
        try:
            http.get_model_metadata(name)
            fail("http: metadata without the bearer token was answered")
        except Exception as error:
            if "401" not in str(error):
                fail(f"http: no token gave {error}")
        print("ok http without token: 401", flush=True)
    print(f"ok http metadata: {meta['name']} versions {meta['versions']} input {input_name} output {output_name}", flush=True)

    for binary in (True, False):
        inp = httpclient.InferInput(input_name, list(rows.shape), "FP32")
        inp.set_data_from_numpy(rows, binary_data=binary)
        out = httpclient.InferRequestedOutput(output_name, binary_data=binary)
        result = http.infer(name, [inp], outputs=[out], headers=headers(), request_id="http-batch")
        compare(f"http batch ({'binary' if binary else 'JSON'} tensors)", result.as_numpy(output_name), want)
    # Default request: no outputs listed, binary input (what tritonclient does out of the box).
    inp = httpclient.InferInput(input_name, [1, FEATURES], "FP32")
    got = []
    for i in range(20):
        inp.set_data_from_numpy(rows[i:i + 1])
        got.append(http.infer(name, [inp], headers=headers()).as_numpy(output_name).reshape(-1)[0])
    compare("http single rows", got, want[:20])
    http.close()

    grpc = grpcclient.InferenceServerClient(url=grpc_url)
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    gheaders = dict(metadata) if metadata else None
    if not grpc.is_server_live() or not grpc.is_server_ready():
        fail("grpc: server not live or not ready")
    if not grpc.is_model_ready(name, headers=gheaders):
        fail("grpc: model not ready")
    gmeta = grpc.get_model_metadata(name, headers=gheaders)
    if list(gmeta.inputs[0].shape) != [-1, FEATURES]:
        fail(f"grpc: metadata input shape {list(gmeta.inputs[0].shape)}")
    print(f"ok grpc metadata: {gmeta.name} platform {gmeta.platform}", flush=True)
    ginp = grpcclient.InferInput(input_name, list(rows.shape), "FP32")
    ginp.set_data_from_numpy(rows)
    result = grpc.infer(name, [ginp], outputs=[grpcclient.InferRequestedOutput(output_name)], headers=gheaders)
    compare("grpc batch", result.as_numpy(output_name), want)
    got = []
    for i in range(20):
        ginp = grpcclient.InferInput(input_name, [1, FEATURES], "FP32")
        ginp.set_data_from_numpy(rows[i:i + 1])
        got.append(grpc.infer(name, [ginp], headers=gheaders).as_numpy(output_name).reshape(-1)[0])
    compare("grpc single rows", got, want[:20])
    # A wrong shape must come back as an error, not a result.
    bad = grpcclient.InferInput(input_name, [1, FEATURES - 1], "FP32")
    bad.set_data_from_numpy(rows[:1, : FEATURES - 1])
    try:
        grpc.infer(name, [bad], headers=gheaders)
        fail("grpc: a [1, 7] input was accepted")
    except Exception as error:  # tritonclient raises InferenceServerException
        if "StatusCode.INVALID_ARGUMENT" not in str(error.status() if hasattr(error, "status") else error):
            fail(f"grpc: wrong shape gave {error}")
        print(f"ok grpc wrong shape rejected: {error.message() if hasattr(error, 'message') else error}", flush=True)
    grpc.close()
    print("PASS", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "train":
        train(sys.argv[2])
    elif len(sys.argv) in (6, 7) and sys.argv[1] == "tritonclient":
        tritonclient_check(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
