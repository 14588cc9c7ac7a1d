"""Image intake: turn a request's base64 photo into a validated, upright RGB Pillow image, and resize it
for OCR or for the vision model.

Every way a photo can be bad maps to one wire error code: `invalid_image` (not base64, a data: URI, not
an image, a format we do not take, a truncated or corrupt file) or `image_too_large` (too many bytes,
too many pixels, a decompression bomb). Untrusted bytes only ever reach the decoders of the allowed
formats.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from models_processor.errors import ErrorCode, ProcessingError

log = logging.getLogger(__name__)

# HEIC/HEIF is what iPhones save by default; pillow-heif adds a Pillow opener for it. Registering is a
# one-time, idempotent, import-time setup (not per-request state).
pillow_heif.register_heif_opener()

# Backstop for any Image.open in the process (including code that does not go through decode_photo).
# decode_photo enforces its own per-call `max_pixels` from the header before decoding, so this global
# is never mutated per request (it is shared by all threads). Pillow warns above it and raises
# DecompressionBombError above twice it, so MAX_IMAGE_PIXELS settings up to 200 MP keep working.
Image.MAX_IMAGE_PIXELS = 100_000_000

# A truncated upload must fail, not decode into a half-grey image that OCRs as garbage. This is
# Pillow's default; it is a process-wide flag, so it is checked (not set) at decode time.
assert ImageFile.LOAD_TRUNCATED_IMAGES is False

# Formats we decode, as Pillow names them. Why each:
# - JPEG, PNG, WEBP: the wire contract (base64 JPEG/PNG/WebP).
# - MPO: iPhone/Android Portrait-mode and many camera JPEGs carry extra frames (depth maps, previews) in
#   an MPF extension; Pillow identifies such a file as MPO although every JPEG reader shows its first
#   frame. Rejecting it would reject ordinary phone photos; we decode frame 0, which is the JPEG.
# - HEIF: iPhones' default camera format (via pillow-heif); again frame 0 (the primary image).
# Not taken: GIF (palette, animation), BMP, TIFF (many rarely used codecs, a large attack surface),
# ICO, PSD, AVIF and the rest: no phone sends them, and each extra decoder is more untrusted-input code.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "MPO", "PNG", "WEBP", "HEIF")
# The decoders Image.open may try. MPO has no opener of its own: the JPEG opener returns an MPO image
# when the file carries an MPF extension.
_OPENERS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "HEIF")

# Magic numbers of formats we refuse, only to name them in the error message (they are never decoded).
_KNOWN_REFUSED = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
)


@dataclass(frozen=True)
class DecodedImage:
    """A validated photo: `image` is fully decoded, upright (EXIF orientation applied) and RGB."""

    image: Image.Image
    format: str  # as Pillow names it: JPEG, MPO, PNG, WEBP or HEIF
    width: int
    height: int
    byte_count: int  # size of the decoded base64 payload (the file as sent)
    file_width: int = 0  # the size the file declares (larger than width x height when decoded at reduced scale)
    file_height: int = 0


# JPEG (and MPO, a JPEG with extra frames) can be decoded at 1/2, 1/4 or 1/8 scale straight from its DCT
# coefficients (Pillow's draft mode): a 50 MP phone photo becomes a 3 MP image without the 150 MB full-size
# bitmap ever existing. For those formats `max_pixels` bounds the pixels actually decoded, and this cap
# bounds the size the header may declare: a progressive JPEG still buffers its coefficients at full size
# (about 3 bytes a pixel), so 100 MP is about 300 MB at worst. See docs/photos.md.
DRAFT_FORMATS: tuple[str, ...] = ("JPEG", "MPO")
MAX_DRAFT_HEADER_PIXELS = 100_000_000


def decode_photo(b64: str, *, max_bytes: int, max_pixels: int, min_side: int = 0) -> DecodedImage:
    """Decode and validate a base64 photo from a request. Raises ProcessingError(invalid_image or
    image_too_large) with a message that names the problem.

    `min_side` > 0: a JPEG whose long side is at least twice that is decoded at the smallest of 1/2, 1/4,
    1/8 scale that keeps its long side >= `min_side` (what OCR and the vision model use anyway)."""
    data = _decode_base64(b64, max_bytes=max_bytes)
    image, fmt, file_size = _open_checked(data, max_pixels=max_pixels, min_side=min_side)
    rgb = _upright_rgb(image)
    return DecodedImage(image=rgb, format=fmt, width=rgb.width, height=rgb.height, byte_count=len(data),
                        file_width=file_size[0], file_height=file_size[1])


def _invalid(message: str) -> ProcessingError:
    return ProcessingError(ErrorCode.INVALID_IMAGE, message)


def _too_large(message: str) -> ProcessingError:
    return ProcessingError(ErrorCode.IMAGE_TOO_LARGE, message)


def _decode_base64(b64: str, *, max_bytes: int) -> bytes:
    if not isinstance(b64, str):
        raise _invalid("photo must be a base64 string")
    # MIME-style base64 wraps lines every 76 characters; whitespace carries no data, so drop all of it.
    compact = "".join(b64.split())
    if not compact:
        raise _invalid("photo is empty")
    if compact[:5].lower() == "data:":
        # Strict on purpose: the contract is plain base64. Saying exactly what is wrong lets the producer
        # fix it; silently accepting would make data: URIs a de-facto, untested part of the contract.
        raise _invalid("photo must be plain base64 of the image file, not a data: URI (remove the 'data:...;base64,' prefix)")
    # Refuse before allocating the decoded copy: base64 carries 3 bytes per 4 characters.
    if len(compact) // 4 * 3 > max_bytes + 2:
        raise _too_large(f"photo is about {len(compact) // 4 * 3} bytes, above the limit of {max_bytes} bytes")
    try:
        # validate=True rejects characters outside the standard alphabet (including URL-safe '-' '_')
        # instead of silently skipping them, so corrupt payloads fail here rather than as a bad image.
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"photo is not valid base64 ({exc})") from None
    if not data:
        raise _invalid("photo is empty")
    if len(data) > max_bytes:
        raise _too_large(f"photo is {len(data)} bytes, above the limit of {max_bytes} bytes")
    return data


def _open_checked(data: bytes, *, max_pixels: int, min_side: int) -> tuple[Image.Image, str, tuple[int, int]]:
    """Open with the allowed decoders only, check dimensions from the header, then fully decode (at
    reduced scale for a large JPEG)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone flipped the process-wide flag; refuse to go on silently
        raise ProcessingError(ErrorCode.INTERNAL, "PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    try:
        # Reads the header only; no pixel data is decoded yet.
        image = Image.open(io.BytesIO(data), formats=list(_OPENERS))
    except Image.DecompressionBombError as exc:
        raise _too_large(f"image dimensions are too large ({exc})") from None
    except UnidentifiedImageError:
        refused = _sniff_refused(data)
        if refused:
            raise _invalid(f"{refused} images are not accepted; send JPEG, PNG, WebP or HEIC") from None
        raise _invalid("photo is not a JPEG, PNG, WebP or HEIC image") from None
    except ValueError as exc:
        # PNG text chunks that decompress beyond PngImagePlugin.MAX_TEXT_CHUNK raise ValueError at open.
        if "decompressed" in str(exc).lower():
            raise _too_large(f"image metadata is too large ({exc})") from None
        raise _invalid(f"image could not be read ({exc})") from None
    except (OSError, SyntaxError, EOFError, Image.DecompressionBombWarning) as exc:
        raise _classify_decode_error(exc) from None

    fmt = image.format or "unknown"
    if fmt not in ALLOWED_FORMATS:  # defensive: an opener returned a subclass we did not plan for
        raise _invalid(f"{fmt} images are not accepted; send JPEG, PNG, WebP or HEIC")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise _invalid(f"image has no pixels ({width}x{height})")
    if fmt in DRAFT_FORMATS and min_side > 0:
        _draft_jpeg(image, min_side=min_side, max_pixels=max_pixels)
    # The per-request pixel limit, from the header (or the reduced size a JPEG will decode to), before any
    # decoding: a PNG of 50000x50000 zeros is 2.5 GB of pixels but only a few MB on the wire.
    decoded_w, decoded_h = image.size
    if decoded_w * decoded_h > max_pixels:
        raise _too_large(f"image is {width}x{height} = {width * height} pixels, above the limit of {max_pixels}")
    try:
        image.load()  # decode everything now, so a truncated or corrupt file fails here
    except Image.DecompressionBombError as exc:
        raise _too_large(f"image dimensions are too large ({exc})") from None
    except ValueError as exc:
        if "decompressed" in str(exc).lower():
            raise _too_large(f"image data is too large ({exc})") from None
        raise _invalid(f"image could not be decoded ({exc})") from None
    except (OSError, SyntaxError, EOFError, Image.DecompressionBombWarning) as exc:
        raise _classify_decode_error(exc) from None
    return image, fmt, (width, height)


def _draft_jpeg(image: Image.Image, *, min_side: int, max_pixels: int) -> None:
    """Configure the JPEG decoder to decode at reduced scale when the photo is much larger than needed."""
    width, height = image.size
    if width * height > max(max_pixels, MAX_DRAFT_HEADER_PIXELS):
        raise _too_large(f"image is {width}x{height} = {width * height} pixels, above the limit of "
                         f"{max(max_pixels, MAX_DRAFT_HEADER_PIXELS)} for a JPEG")
    longest = max(width, height)
    if longest < 2 * min_side:
        return
    # draft() picks the largest of 8, 4, 2 that keeps both sides >= the requested box, so ask for the
    # box of the same shape whose long side is min_side.
    factor = min_side / longest
    image.draft(image.mode, (max(1, round(width * factor)), max(1, round(height * factor))))


def _classify_decode_error(exc: BaseException) -> ProcessingError:
    if isinstance(exc, Image.DecompressionBombWarning):  # only raised when warnings are errors (-W error)
        return _too_large(f"image dimensions are too large ({exc})")
    text = str(exc)
    if "truncated" in text.lower():
        return _invalid(f"image file is truncated ({text})")
    return _invalid(f"image is corrupt or unreadable ({type(exc).__name__}: {text})")


def _sniff_refused(data: bytes) -> str | None:
    for magic, name in _KNOWN_REFUSED:
        if data.startswith(magic):
            return name
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    return None


def _upright_rgb(image: Image.Image) -> Image.Image:
    """Apply EXIF orientation (phones store pixels sideways and a rotate tag) and convert to RGB."""
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception as exc:  # a malformed EXIF block is common and not worth rejecting the photo
        log.info("ignoring unreadable EXIF orientation: %s", exc)
        upright = image
    if upright.mode == "RGB":
        return upright
    if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
        # Transparent pixels are often stored as black; flattening onto white keeps dark text readable.
        rgba = upright.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    try:
        return upright.convert("RGB")
    except (ValueError, OSError) as exc:
        raise _invalid(f"image colour mode {upright.mode} cannot be converted to RGB ({exc})") from None


def _shrink(img: Image.Image, max_side: int, resample: Image.Resampling) -> tuple[Image.Image, float]:
    width, height = img.size
    longest = max(width, height)
    if longest <= max_side:
        return img, 1.0
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap: for large ratios Pillow first shrinks by an integer factor with a cheap box filter
    # (Image.reduce), then finishes with `resample`; visually the same at a fraction of the CPU.
    return img.resize(size, resample, reducing_gap=3.0), scale


def downscale_for_ocr(img: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """Shrink `img` so its longer side is at most `max_side`. Returns (image, scale), scale = new/old
    (1.0 and the same object when no resize was needed); divide coordinates by scale to map back.

    LANCZOS even though BILINEAR is ~0.1-0.2 s cheaper on a 12-MP photo: measured on a phone-like
    photo of a label, BILINEAR lost the small print and a "%DV" column entry (12 lines read vs 16).
    """
    return _shrink(img, max_side, Image.Resampling.LANCZOS)


def encode_for_model(img: Image.Image, max_side: int, *, quality: int = 90) -> bytes:
    """JPEG bytes for the vision model: shrunk to `max_side` (the model sees ~1 MP at most anyway, and
    smaller payloads are faster to send and encode) and encoded exactly once from the decoded pixels,
    never re-compressing an already re-compressed JPEG."""
    small, _ = _shrink(img, max_side, Image.Resampling.LANCZOS)  # the model sees detail: best filter
    if small.mode != "RGB":
        small = small.convert("RGB")
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=quality)
    return out.getvalue()
