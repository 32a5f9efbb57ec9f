"""The one image opener: every command that decodes a picture (train, eval, predict, serve, drawing) uses it.

:func:`open_image` decodes a file path, the bytes of an encoded image or a binary
file object into a loaded RGB PIL image with its EXIF orientation applied (a damaged
EXIF block leaves the pixels as stored), the first frame of an animation, and refuses
pictures above :data:`MAX_IMAGE_PIXELS` before decoding them. Every failure is an
:class:`ImageReadError` whose ``kind`` lets each caller choose its own error (a
dataset error in training, a skipped input in predict, an HTTP status in the service).
"""

from __future__ import annotations

import io
import os
import warnings
from typing import IO, Any

from PIL import Image, ImageOps

#: Pictures above this many pixels are refused (Pillow's own decompression-bomb limit).
MAX_IMAGE_PIXELS = 89_478_485

# Such pictures are refused below with a clear error before any decoding, so Pillow's warning about them
# is noise. A process-wide filter: `warnings.catch_warnings` around each open is not thread-safe.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

#: ``ImageReadError.kind`` values.
MISSING, NOT_IMAGE, TOO_LARGE, CORRUPT, EMPTY = "missing", "not_image", "too_large", "corrupt", "empty"


class ImageReadError(Exception):
    """An image that cannot be used: ``kind`` (missing, not_image, too_large, corrupt, empty) and a reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


def open_image(
    source: ImageSource, *, max_pixels: int = MAX_IMAGE_PIXELS, max_side: int | None = None
) -> Image.Image:
    """Decode ``source`` (a path, encoded bytes or a binary file) to a loaded, upright RGB image.

    ``max_side`` lets JPEG decoding start at a reduced scale when only a picture of
    about that size is needed (drawing); the result may still be larger than it.
    """
    fp: Any = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        with Image.open(fp) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise ImageReadError(
                    TOO_LARGE, f"too large: {width}x{height} pixels, the limit is {max_pixels} pixels"
                )
            if width == 0 or height == 0:
                raise ImageReadError(EMPTY, "the image is empty (0 pixels)")
            if max_side and max(width, height) > max_side:
                im.draft("RGB", (max_side, max_side))  # JPEG only; a no-op for other formats
            im.load()
            upright = _upright(im)
            rgb = upright if upright.mode == "RGB" else upright.convert("RGB")
            rgb.load()
            return rgb
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(MISSING, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(MISSING, "a folder, not an image file") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError(NOT_IMAGE, "not an image format Pillow can read") from None
    except Image.DecompressionBombError:
        raise ImageReadError(TOO_LARGE, f"too large: more than {max_pixels} pixels") from None
    except MemoryError:
        raise ImageReadError(TOO_LARGE, "too large to decode in the memory available") from None
    except PermissionError as exc:
        raise ImageReadError(MISSING, f"cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # Pillow's decoders raise many types (OSError, ValueError, SyntaxError...)
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ImageReadError(CORRUPT, f"cannot decode: {reason}") from None


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a damaged EXIF block leaves the image as stored."""
    try:
        if im.getexif().get(0x0112, 1) in (1, None):
            return im
        return ImageOps.exif_transpose(im) or im
    except Exception:  # EXIF parsing errors come in many types; the pixels are still good
        return im


__all__ = ["MAX_IMAGE_PIXELS", "ImageReadError", "ImageSource", "open_image"]
