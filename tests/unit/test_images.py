"""Image intake: every bad photo maps to its wire error code; good photos come out upright RGB."""

from __future__ import annotations

import base64
import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image, ImageFile

from models_processor.errors import ErrorCode, ProcessingError
from models_processor.images import decode_photo, downscale_for_ocr, encode_for_model

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def sample(size=(64, 48), color=(200, 30, 30)) -> Image.Image:
    img = Image.new("RGB", size, color)
    img.putpixel((0, 0), (0, 0, 255))  # a marker to check orientation
    return img


def decode(data: str | bytes, *, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS):
    return decode_photo(data if isinstance(data, str) else b64(data), max_bytes=max_bytes, max_pixels=max_pixels)


def fails(data, code: ErrorCode, match: str = "", **kw) -> ProcessingError:
    with pytest.raises(ProcessingError) as info:
        decode(data, **kw)
    assert info.value.code == code, info.value
    assert match.lower() in info.value.message.lower(), info.value.message
    assert info.value.retryable is False
    return info.value


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def raw_png(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# --- accepted formats ---

@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats(fmt):
    data = encode(sample(), fmt)
    got = decode(data)
    assert got.format == fmt
    assert (got.width, got.height) == (64, 48) == got.image.size
    assert got.image.mode == "RGB"
    assert got.byte_count == len(data)


def test_whitespace_and_newlines_in_base64_ignored():
    text = b64(encode(sample(), "PNG"))
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    assert decode("  " + wrapped + "\r\n").format == "PNG"


def test_heic_round_trip():
    pillow_heif = pytest.importorskip("pillow_heif")
    try:
        data = encode(sample(), "HEIF", quality=90)
    except Exception as exc:  # pragma: no cover - build without an encoder
        pytest.skip(f"pillow-heif cannot encode here: {exc}")
    got = decode(data)
    assert got.format == "HEIF" and got.image.size == (64, 48) and got.image.mode == "RGB"
    assert pillow_heif  # registered opener used


def test_mpo_from_phone_cameras_accepted():
    frames = [sample(), sample(color=(0, 0, 0))]
    out = io.BytesIO()
    frames[0].save(out, format="MPO", save_all=True, append_images=frames[1:])
    got = decode(out.getvalue())
    assert got.format == "MPO" and got.image.size == (64, 48)


def test_exif_orientation_applied():
    img = sample(size=(60, 40))
    img.paste((0, 0, 255), (0, 0, 10, 10))  # a block (not a pixel) survives JPEG
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    got = decode(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert got.image.size == (40, 60)
    assert (got.width, got.height) == (40, 60)
    r, _g, b = got.image.getpixel((36, 3))  # the top-left marker ends up top-right
    assert b > 150 and r < 100


def test_transparent_png_flattened_on_white():
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    got = decode(encode(img, "PNG"))
    assert got.image.mode == "RGB" and got.image.getpixel((5, 5)) == (255, 255, 255)


def test_grayscale_and_palette_converted():
    assert decode(encode(Image.new("L", (8, 8), 100), "PNG")).image.mode == "RGB"
    assert decode(encode(Image.new("RGB", (8, 8), (1, 2, 3)).convert("P"), "PNG")).image.mode == "RGB"


def test_polyglot_png_with_zip_appended_is_accepted_tail_ignored():
    # Decision: the pixels are a valid PNG; trailing bytes are never read or stored (we keep only the
    # decoded pixels and re-encode for the model), so the image is accepted.
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("payload.txt", "hello")
    got = decode(encode(sample(), "PNG") + zbuf.getvalue())
    assert got.format == "PNG" and got.image.size == (64, 48)


# --- invalid_image ---

def test_not_base64():
    fails("this is not base64!!", ErrorCode.INVALID_IMAGE, "base64")
    fails("abc", ErrorCode.INVALID_IMAGE, "base64")  # bad padding
    fails(b64(encode(sample(), "PNG")).replace("+", "-").replace("/", "_") + "-_", ErrorCode.INVALID_IMAGE, "base64")


def test_data_uri_rejected_with_clear_message():
    err = fails("data:image/png;base64," + b64(encode(sample(), "PNG")), ErrorCode.INVALID_IMAGE, "data: URI")
    assert "prefix" in err.message


@pytest.mark.parametrize("payload", ["", "   \n ", b""])
def test_empty(payload):
    fails(payload if isinstance(payload, str) else b64(payload), ErrorCode.INVALID_IMAGE, "empty")


def test_not_a_string():
    with pytest.raises(ProcessingError) as info:
        decode_photo(None, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)  # type: ignore[arg-type]
    assert info.value.code == ErrorCode.INVALID_IMAGE


def test_not_an_image():
    fails(b"hello, this is plain text and not a picture", ErrorCode.INVALID_IMAGE, "not a JPEG, PNG, WebP or HEIC")
    fails(b"%PDF-1.7\n...", ErrorCode.INVALID_IMAGE, "PDF")


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO"])
def test_disallowed_formats_named(fmt):
    fails(encode(sample(), fmt), ErrorCode.INVALID_IMAGE, f"{fmt} images are not accepted")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated(fmt):
    rng_img = Image.effect_noise((256, 256), 64).convert("RGB")  # noise: pixel data dominates the file
    data = encode(rng_img, fmt)
    fails(data[: len(data) // 2], ErrorCode.INVALID_IMAGE)


def test_truncated_jpeg_message_says_truncated():
    data = encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")
    fails(data[: len(data) // 2], ErrorCode.INVALID_IMAGE, "truncated")


def test_corrupt_png_data():
    data = raw_png(32, 32, b"\x78\x9c" + b"\xff" * 100)  # zlib header then garbage
    fails(data, ErrorCode.INVALID_IMAGE)


def test_header_only():
    fails(encode(sample(), "PNG")[:40], ErrorCode.INVALID_IMAGE)


# --- image_too_large ---

def test_oversize_bytes_rejected_before_decoding():
    data = encode(sample(), "PNG") + b"\0" * 5000
    fails(data, ErrorCode.IMAGE_TOO_LARGE, "limit", max_bytes=4096)
    fails(b"\0" * 10_000, ErrorCode.IMAGE_TOO_LARGE, "limit", max_bytes=4096)  # checked on the base64 length


@pytest.fixture
def decoded(monkeypatch) -> list[tuple[int, int]]:
    """The sizes of the images whose pixels were decoded (ImageFile.load), to prove a refusal came from the
    header alone; a time bound said the same less exactly, and a loaded machine could break it."""
    sizes: list[tuple[int, int]] = []

    def refuse(self):
        sizes.append(self.size)
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    return sizes


def test_decompression_bomb_huge_dimensions_tiny_file(decoded):
    # 100000 x 100000 RGB = 30 GB of pixels declared in a ~100-byte file: refused from the header.
    data = raw_png(100_000, 100_000, zlib.compress(b"\0" * 1000))
    assert len(data) < 200
    fails(data, ErrorCode.IMAGE_TOO_LARGE, "pixels")
    assert decoded == []


def test_above_pillow_global_limit_is_too_large_not_crash():
    # Beyond 2x Image.MAX_IMAGE_PIXELS Pillow itself raises DecompressionBombError inside open().
    data = raw_png(60_000, 60_000, zlib.compress(b"\0" * 100))
    fails(data, ErrorCode.IMAGE_TOO_LARGE, max_pixels=10**10)


def test_highly_compressible_png_bomb_limited_by_pixels(decoded):
    # 8000 x 6000 black PNG: 144 MB of pixels in a ~140 KB file ("zip bomb"). Over a 40 MP limit it is
    # refused without decoding; under a generous limit it decodes normally.
    data = encode(Image.new("L", (8000, 6000), 0), "PNG", optimize=True)
    assert len(data) < 300_000
    fails(data, ErrorCode.IMAGE_TOO_LARGE, "pixels", max_pixels=40_000_000)
    assert decoded == []


def test_png_text_chunk_bomb():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "A" * 20_000_000, zip=True)  # 20 MB of text in ~20 KB
    fails(encode(sample(), "PNG", pnginfo=info), ErrorCode.IMAGE_TOO_LARGE)


# --- resizing ---

def test_downscale_for_ocr():
    img = Image.new("RGB", (4000, 3000))
    small, scale = downscale_for_ocr(img, 1600)
    assert small.size == (1600, 1200) and scale == pytest.approx(0.4)
    same, one = downscale_for_ocr(small, 1600)
    assert same is small and one == 1.0


def test_encode_for_model_is_jpeg_within_max_side():
    img = Image.effect_noise((3000, 1000), 30).convert("RGB")
    data = encode_for_model(img, 1024)
    out = Image.open(io.BytesIO(data))
    assert out.format == "JPEG" and max(out.size) == 1024 and out.size == (1024, 341)
    small = encode_for_model(Image.new("RGB", (100, 50)), 1024)
    assert Image.open(io.BytesIO(small)).size == (100, 50)


# --- large phone photos: JPEG decoded at reduced scale ---

PHOTO_50MP = (8160, 6120)  # a 50 MP phone sensor


def _photo_50mp_jpeg() -> bytes:
    """A 50 MP JPEG of a page with text (about 1.4 MB, as phones save them), drawn at 1/4 size and enlarged
    so generating it stays cheap."""
    from PIL import ImageDraw

    small = Image.new("RGB", (PHOTO_50MP[0] // 4, PHOTO_50MP[1] // 4), (236, 232, 220))
    draw = ImageDraw.Draw(small)
    for row in range(60):
        draw.text((40, 20 + row * 24), f"Line {row}: 200 g plain flour, 2 tbsp olive oil " * 3, fill=(20, 20, 20))
    return encode(small.resize(PHOTO_50MP, Image.Resampling.BILINEAR), "JPEG", quality=80)


def test_50mp_jpeg_accepted_at_reduced_scale():
    data = _photo_50mp_jpeg()
    assert 1_000_000 < len(data) < 4_000_000
    # Without reduced-scale decoding (no min_side) the 40 MP pixel limit refuses it, as it did before.
    fails(data, ErrorCode.IMAGE_TOO_LARGE, "pixels")
    got = decode_photo(b64(data), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=1600)
    assert got.format == "JPEG"
    assert (got.file_width, got.file_height) == PHOTO_50MP
    assert got.image.size == (2040, 1530) == (got.width, got.height)  # 1/4 scale: long side >= 1600


def test_50mp_jpeg_decode_memory_is_bounded():
    """Peak RSS grows by far less than the 150 MB a full-size RGB decode needs (measured in a fresh process,
    where ru_maxrss is this decode's peak)."""
    import subprocess
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".jpg") as photo:
        photo.write(_photo_50mp_jpeg())
        photo.flush()
        script = (
            "import base64, resource, sys\n"
            "from models_processor.images import decode_photo\n"
            "b = base64.b64encode(open(sys.argv[1], 'rb').read()).decode()\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "img = decode_photo(b, max_bytes=8 << 20, max_pixels=40_000_000, min_side=1600).image\n"
            "print(img.size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
        )
        out = subprocess.run([sys.executable, "-c", script, photo.name], capture_output=True, text=True, check=True)
    size, grew_kb = out.stdout.rsplit(" ", 1)
    assert size == "(2040, 1530)"
    assert int(grew_kb) < 60_000, f"decode grew RSS by {int(grew_kb) // 1024} MB"


def test_small_jpeg_not_reduced_and_png_keeps_pixel_limit():
    data = encode(Image.new("RGB", (3000, 2000), (255, 255, 255)), "JPEG")
    got = decode_photo(b64(data), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=1600)
    assert got.image.size == (3000, 2000)  # below twice min_side: decoded at full size
    # A PNG cannot be decoded at reduced scale: the decompression-bomb limit still applies to its header.
    png = encode(Image.new("L", (8000, 6000), 0), "PNG", optimize=True)
    with pytest.raises(ProcessingError) as info:
        decode_photo(b64(png), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=1600)
    assert info.value.code == ErrorCode.IMAGE_TOO_LARGE


def test_jpeg_header_beyond_draft_cap_refused():
    # 12000 x 9000 = 108 MP declared: above the 100 MP a JPEG header may declare even at reduced scale.
    data = encode(Image.new("RGB", (12000, 9000), (255, 255, 255)), "JPEG", quality=10)
    with pytest.raises(ProcessingError) as info, pytest.warns(Image.DecompressionBombWarning):
        decode_photo(b64(data), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=1600)
    assert info.value.code == ErrorCode.IMAGE_TOO_LARGE and "for a JPEG" in info.value.message
