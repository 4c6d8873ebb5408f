"""Images as a vision chat model receives them: resized, encoded as PNG (standard library) or JPEG (Pillow),
and sent as ``image_url`` data URIs in OpenAI chat-completions messages, with the labels as a numbered list.

    uri = data_uri(image_uint8_chw, size=224, fmt="png")   # "data:image/png;base64,iVBOR..."
    messages = vision_messages(DEFAULT_VISION_INSTRUCTION, names, examples=[(img, 3)], image=query_img, size=224)
"""

from __future__ import annotations

import base64
import io
import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from edgekit.errors import InputError, require

DEFAULT_VISION_INSTRUCTION = (
    "Which one of these categories does the image show?\n{labels}\nAnswer with the category name only."
)
IMAGE_FORMATS = ("png", "jpeg")


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 (C, H, W) -> uint8 (C, size, round(size * W / H)), bilinear with half-pixel centres (what PIL and
    OpenCV do), so a 28x28 Fashion-MNIST image reaches a vision model at the resolution it was trained on."""
    c, h, w = image.shape
    out_h, out_w = size, max(1, round(size * w / h))
    if (out_h, out_w) == (h, w):
        return image
    ys = np.clip((np.arange(out_h) + 0.5) * h / out_h - 0.5, 0, h - 1)
    xs = np.clip((np.arange(out_w) + 0.5) * w / out_w - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    img = image.astype(np.float64)
    top = img[:, y0][:, :, x0] * (1 - fx) + img[:, y0][:, :, x1] * fx
    bottom = img[:, y1][:, :, x0] * (1 - fx) + img[:, y1][:, :, x1] * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (1 or 3, H, W) -> a PNG file (8-bit grayscale or RGB, no filter), standard library only."""
    c, h, w = image.shape
    if c not in (1, 3):
        raise InputError(f"images must have 1 or 3 channels to be sent to a chat model, got {c}")
    rows = np.ascontiguousarray(image.transpose(1, 2, 0)).reshape(h, w * c)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))  # filter type 0 per scanline

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def jpeg_bytes(image: np.ndarray, quality: int = 90) -> bytes:
    pil = require("PIL.Image", "shrink")
    c = image.shape[0]
    arr = image[0] if c == 1 else image.transpose(1, 2, 0)
    buf = io.BytesIO()
    pil.fromarray(np.ascontiguousarray(arr), "L" if c == 1 else "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def data_uri(image: np.ndarray, size: int, fmt: str = "png") -> str:
    """One uint8 (C, H, W) image, resized to ``size`` pixels high, as a base64 data URI."""
    if fmt not in IMAGE_FORMATS:
        raise InputError(f"image_format: {fmt!r} is not one of {', '.join(IMAGE_FORMATS)}")
    small = resize(np.asarray(image, np.uint8), size)
    data = png_bytes(small) if fmt == "png" else jpeg_bytes(small)
    return f"data:image/{fmt};base64," + base64.b64encode(data).decode()


def numbered(names: Sequence[str]) -> str:
    return "\n".join(f"{i}. {n}" for i, n in enumerate(names, 1))


def vision_messages(
    instruction: str,
    names: Sequence[str],
    examples: Sequence[tuple[np.ndarray, int]],
    image: np.ndarray,
    size: int,
    fmt: str = "png",
) -> list[dict]:
    """The classification prompt as chat turns: few-shot (image, label index) pairs answered by the assistant,
    then the query image. Each user turn holds the instruction (labels filled in) and one image part."""
    text = instruction.replace("{labels}", numbered(names))

    def turn(img: np.ndarray) -> dict:
        return {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": data_uri(img, size, fmt)}},
            ],
        }

    messages = []
    for ex_image, ex_label in examples:
        messages += [turn(ex_image), {"role": "assistant", "content": names[ex_label]}]
    return messages + [turn(image)]


def estimate_image_tokens(height: int, width: int) -> int:
    """Prompt tokens one image costs, by the tile rule hosted GPT-4o-class APIs publish (85 base + 170 per
    512x512 tile); used only when an endpoint reports no usage, and labelled as an estimate."""
    return 85 + 170 * math.ceil(height / 512) * math.ceil(width / 512)


def estimate_text_tokens(text: str) -> int:
    """~4 characters per token for English (tokenizer-free estimate, labelled as such)."""
    return max(1, round(len(text) / 4))
