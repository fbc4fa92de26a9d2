"""Reading a whole file that may be gzip- or bzip2-compressed, with one-line errors naming the file."""

from __future__ import annotations

import bz2
import gzip
import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.errors import DataError

__all__ = ["read_bytes", "read_capped", "check_labels", "one_line", "image_errors", "open_image", "png_problem"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_problem(raw: bytes) -> str | None:
    """None when every chunk of the PNG file ``raw`` matches its CRC-32, else what is wrong. Pillow's decoder checks
    no chunk CRC and stops before zlib's own checksum, so a damaged PNG would decode as other pixels."""
    pos = len(_PNG_MAGIC)
    while pos + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        end = pos + 12 + length
        if end > len(raw):
            return f"chunk {kind!r} runs past the end of the file"
        if zlib.crc32(raw[pos + 4 : end - 4]) != struct.unpack(">I", raw[end - 4 : end])[0]:
            return f"chunk {kind!r} fails its CRC check"
        if kind == b"IEND":
            return None
        pos = end
    return "no IEND chunk: the file is cut"


def open_image(path: str | Path) -> Any:
    """``PIL.Image.open(path)``, after checking a PNG file's chunk CRCs (raises ValueError naming the problem)."""
    from PIL import Image

    with open(path, "rb") as f:
        if f.read(len(_PNG_MAGIC)) != _PNG_MAGIC:
            return Image.open(path)
        raw = _PNG_MAGIC + f.read()
    problem = png_problem(raw)
    if problem:
        raise ValueError(f"damaged PNG: {problem}")
    return Image.open(io.BytesIO(raw))


def image_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises on a damaged or hostile image file: I/O and format errors, a decompression bomb, and a
    MemoryError when a corrupt chunk length asks for gigabytes (under a memory limit)."""
    from PIL import Image

    return (OSError, ValueError, SyntaxError, MemoryError, Image.DecompressionBombError)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def read_bytes(path: Path, fix: str) -> bytes:
    """The (decompressed) content of ``path``; compression is detected from the magic bytes, not the name.

    Args:
        path: the file.
        fix: the hint appended to error messages ("re-download it with `visionbench download mnist`").

    Raises:
        DataError: unreadable file or corrupt compressed stream.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({one_line(exc)}); {fix}") from exc
    kind = "gzip" if raw[:2] == b"\x1f\x8b" else "bzip2" if raw[:3] == b"BZh" else None
    if kind is not None:
        # Inflated with a cap (a 1 MB bomb must not take gigabytes), to the stream's end (its checksum is there).
        cap = MAX_INFLATION * len(raw)
        try:
            inflater: Any = zlib.decompressobj(31) if kind == "gzip" else bz2.BZ2Decompressor()
            out = inflater.decompress(raw, cap + 1)
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise DataError(f"{path}: corrupt {kind} stream ({one_line(exc)}); {fix}") from exc
        if len(out) > cap:
            raise DataError(f"{path}: {len(raw):,} compressed bytes inflate to more than {cap:,} (a compression bomb "
                            f"or a corrupt file); {fix}")
        if not inflater.eof:
            raise DataError(f"{path}: corrupt {kind} stream (it ends before its end marker: the file is cut); {fix}")
        if inflater.unused_data:  # a second stream or garbage after the first: not a file this program wrote
            raise DataError(f"{path}: {len(inflater.unused_data):,} bytes after the end of the {kind} stream; {fix}")
        return out
    if path.suffix in (".gz", ".bz2"):
        # A name that promises compression on a file that is not compressed means a broken or HTML download.
        raise DataError(f"{path}: not a {path.suffix[1:]} file (bad magic bytes {raw[:4]!r}); {fix}")
    return raw


#: The most a compressed data file may inflate to, per compressed byte (image sets compress 2-20 times; a
#: compression bomb, thousands of times).
MAX_INFLATION = 200


def read_capped(path: Path, fix: str, parse_header: Callable[[bytes], tuple[int, int]], header_size: int) -> bytes:
    """The (decompressed) content of ``path`` when its header announces its length, read incrementally: the first
    ``header_size`` bytes go to ``parse_header``, which checks them and returns ``(header_size, payload_size)``;
    then at most the payload and one byte more are decompressed, so a small compressed file that claims or inflates
    to gigabytes is refused before it fills the memory.

    Raises:
        DataError: unreadable file, corrupt compressed stream, truncated payload or trailing bytes.
    """
    try:
        with path.open("rb") as f:
            magic = f.read(3)
            f.seek(0)
            stream: Any = (gzip.GzipFile(fileobj=f) if magic[:2] == b"\x1f\x8b"
                           else bz2.BZ2File(f) if magic == b"BZh" else f)
            if stream is f and path.suffix in (".gz", ".bz2"):
                raise DataError(f"{path}: not a {path.suffix[1:]} file (bad magic bytes {magic!r}); {fix}")
            head = stream.read(header_size)
            header, size = parse_header(head)
            packed = path.stat().st_size
            if stream is not f and size > MAX_INFLATION * packed:
                raise DataError(f"{path}: {packed:,} compressed bytes announce {size:,} bytes of data, "
                                f"{size // max(packed, 1):,} times more (a compression bomb or a corrupt header); "
                                f"{fix}")
            payload = stream.read(size + 1)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({one_line(exc)}); {fix}") from exc
    if len(payload) != size:
        what = "truncated payload" if len(payload) < size else "trailing bytes after the payload"
        raise DataError(f"{path}: {what}: the header announces {size} bytes; {fix}")
    return head[:header] + payload


def check_labels(labels: np.ndarray, num_classes: int, path: Path, fix: str) -> np.ndarray:
    """``labels`` as int64 after checking they are in ``[0, num_classes)``."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":  # a float label must be a whole number: 2.5 is not class 2
        bad = labels[~np.isfinite(labels) | (labels != np.round(labels))]
        if bad.size:
            raise DataError(f"{path}: label {bad[0]} is not a whole number; {fix}")
    elif labels.dtype.kind not in "iub":
        raise DataError(f"{path}: labels of type {labels.dtype} are not class numbers; {fix}")
    labels = labels.astype(np.int64, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise DataError(f"{path}: label {int(bad)} is out of range 0..{num_classes - 1}; {fix}")
    return labels
