"""A real HTTP server on 127.0.0.1 that speaks OpenAI chat-completions with image parts, for tests and for the
default recipe's prompted row without a real vision model. It decodes every image it receives (PNG or JPEG data
URIs), records the requests, and answers through ``answer(images, text) -> str | None | dict`` (a dict is sent as
the whole response body; None is a refusal: content null, message.refusal set).

    with VisionServer(lambda images, text: "Trouser") as server:
        ...  # base_url=server.url; server.requests[i] = {"body", "images": [uint8 (H, W) or (H, W, 3)], "texts"}

Run as a script it answers from a nearest-centroid classifier on Fashion-MNIST training images (a tiny real
classifier, so the prompted row has a real, imperfect accuracy), with usage reported:

    python tests/vision_server.py --port 8765          # then EDGEKIT_VISION_ENDPOINT=http://127.0.0.1:8765/v1
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np

from localhttp import LocalServer, QuietHandler


def decode(uri: str) -> np.ndarray:
    from PIL import Image

    header, _, data = uri.partition(",")
    assert header in ("data:image/png;base64", "data:image/jpeg;base64"), header
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


class VisionServer(LocalServer):
    def __init__(self, answer, usage: bool = True, host: str = "127.0.0.1", port: int = 0):
        self.requests: list[dict] = []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                images, texts = [], []
                for m in body["messages"]:
                    parts = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
                    for p in parts:
                        if p["type"] == "image_url":
                            images.append(decode(p["image_url"]["url"]))
                        elif m["role"] == "user":
                            texts.append(p["text"])
                outer.requests.append({"body": body, "images": images, "texts": texts, "path": self.path})
                out = answer(images, texts[-1] if texts else "")
                if isinstance(out, (dict, bytes)):
                    return self.send_body(200, out if isinstance(out, bytes) else json.dumps(out).encode())
                message = (
                    {"role": "assistant", "content": out}
                    if out is not None
                    else {"role": "assistant", "content": None, "refusal": "I can't help with that."}
                )
                payload = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
                if usage:
                    payload["usage"] = {
                        "prompt_tokens": 200 * len(images) + 40,
                        "completion_tokens": 3,
                        "total_tokens": 200 * len(images) + 43,
                    }
                self.send_body(200, json.dumps(payload).encode())

        self.serve(Handler, host, port)


def centroid_answer(train_x: np.ndarray, train_y: np.ndarray, names: list[str]):
    """Nearest class centroid on 28x28 grayscale pixels (~68 % on Fashion-MNIST): the received image (at whatever
    size it was sent) is box-downsampled back to 28x28 first. Answers the class name."""
    cents = np.stack([train_x[train_y == c].reshape(-1, 784).mean(0) for c in range(len(names))]).astype(np.float32)

    def answer(images, text):
        img = images[-1].astype(np.float32)
        if img.ndim == 3:
            img = img.mean(2)
        h = img.shape[0] // 28
        small = img[: 28 * h, : 28 * h].reshape(28, h, 28, h).mean((1, 3)).reshape(-1)
        return names[int(np.argmin(((cents - small) ** 2).sum(1)))]

    return answer


if __name__ == "__main__":
    import argparse

    from edgekit.data.sources import FASHION_CLASSES, FASHION_FILES, SYSTEM_DIR, read_idx

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    x, y = (read_idx(SYSTEM_DIR / f"{stem}.gz") for stem in FASHION_FILES[:2])
    with VisionServer(centroid_answer(x, y.astype(np.int64), list(FASHION_CLASSES)), port=args.port) as server:
        print(f"serving {server.url}", flush=True)
        server.thread.join()
