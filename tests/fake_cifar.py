"""Tiny archives in the official CIFAR python format, and a local HTTP server for them."""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _batch(rng: np.random.Generator, count: int, classes: int, label_key: bytes) -> tuple[dict, np.ndarray, np.ndarray]:
    data = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
    labels = rng.integers(0, classes, size=count)
    return {b"data": data, label_key: [int(x) for x in labels], b"batch_label": b"fake"}, data, labels


def make_archive(path: Path, source: str = "cifar10", per_batch: int = 20, seed: int = 0) -> dict:
    """Write a tar.gz laid out like the official one; returns the arrays it holds and its MD5."""
    rng = np.random.default_rng(seed)
    members: dict[str, bytes] = {}
    if source == "cifar10":
        folder, label_key, classes = "cifar-10-batches-py", b"labels", CIFAR10_CLASSES
        members["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in classes]})
        train_names, test_names = [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]
    else:
        folder, label_key, classes = "cifar-100-python", b"fine_labels", [f"class{i}" for i in range(100)]
        members["meta"] = pickle.dumps({b"fine_label_names": [c.encode() for c in classes], b"coarse_label_names": []})
        train_names, test_names = ["train"], ["test"]
    arrays = {}
    for split, names in (("train", train_names), ("test", test_names)):
        data, labels = [], []
        for name in names:
            batch, batch_data, batch_labels = _batch(rng, per_batch, len(classes), label_key)
            members[name] = pickle.dumps(batch)
            data.append(batch_data)
            labels.append(batch_labels)
        arrays[split] = (np.concatenate(data).reshape(-1, 3, 32, 32), np.concatenate(labels))
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return {"arrays": arrays, "classes": classes, "md5": hashlib.md5(path.read_bytes()).hexdigest()}


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from the server's directory; `truncate` lies about the length and cuts the body."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server = self.server
        server.requests += 1
        if server.fail_first > 0:
            server.fail_first -= 1
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            return
        if server.truncate:
            payload = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            return
        super().do_GET()


@contextmanager
def serve(directory: Path, *, truncate: bool = False, fail_first: int = 0):
    """An HTTP server on 127.0.0.1 for `directory`; yields its base URL and the server."""

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(directory), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.truncate, server.fail_first, server.requests = truncate, fail_first, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


def cifar_spec(url: str, md5: str, source: str = "cifar10", **extra) -> dict:
    """A config entry for a downloaded CIFAR source, as the workflow passes it to the steps."""
    return {"source": source, "url": url, "md5": md5, "retries": 3, "timeout": 10, "split_seed": 0, **extra}
