"""rawcolour.io.images: decoding, orientation, 16-bit, metadata carry-over, atomic writes, bad files."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageFile, ImageOps
from PIL.TiffImagePlugin import IFDRational
from skimage import data as skdata

from rawcolour import __version__
from rawcolour.io import files, images, pixels
from rawcolour.errors import InputError, OutputError, UsageError

RNG = np.random.default_rng(1234)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
DATE = "2024:05:06 07:08:09"


def _rgb8(h=5, w=7):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _rgb16(h=5, w=7):
    a = RNG.integers(0, 65536, (h, w, 3), dtype=np.uint16)
    a[0, 0] = (0, 65535, 256)  # extremes and a value just above 8 bits
    return a


def _exif(orientation: int | None = None) -> bytes:
    ex = Image.Exif()
    ex[271] = "TestCam"
    ex[272] = "T-1"
    if orientation is not None:
        ex[0x0112] = orientation
    ex.get_ifd(0x8769)[36867] = DATE  # DateTimeOriginal
    ex.get_ifd(0x8769)[33434] = IFDRational(1, 250)  # ExposureTime
    ex.get_ifd(0x8825)[1] = "N"  # GPSLatitudeRef
    return ex.tobytes()


def _png(width, height, bit_depth, colour_type, samples: np.ndarray) -> bytes:
    """A minimal PNG straight from the spec (independent of the code under test)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = samples.astype(">u2" if bit_depth == 16 else np.uint8).reshape(height, -1).view(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 on every row
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _pillow_upright(a8: np.ndarray, orientation: int) -> np.ndarray:
    """Oracle: what Pillow's exif_transpose shows for these pixels and this orientation."""
    im = Image.fromarray(a8)
    im.getexif()[0x0112] = orientation
    return np.asarray(ImageOps.exif_transpose(im))


def _exif_tags(exif: bytes) -> Image.Exif:
    ex = Image.Exif()
    ex.load(exif)
    return ex


def _is_root_like(folder: Path) -> bool:
    """True where chmod does not stop writes (root, some container file systems)."""
    probe = folder / "probe"
    try:
        probe.write_bytes(b"x")
    except OSError:
        return False
    probe.unlink()
    return True


# --------------------------------------------------------------------------- reading modes


class TestReadModes:
    @pytest.mark.parametrize(
        "suffix,options", [(".png", {}), (".bmp", {}), (".tif", {}), (".webp", {"lossless": True})]
    )
    def test_rgb8_formats(self, tmp_path, suffix, options):
        a = _rgb8()
        Image.fromarray(a).save(tmp_path / f"x{suffix}", **options)
        pic = images.read_image(tmp_path / f"x{suffix}")
        assert pic.bit_depth == 8 and pic.pixels.dtype == np.uint8
        np.testing.assert_array_equal(pic.pixels, a)
        assert pic.path == tmp_path / f"x{suffix}"

    @pytest.mark.parametrize("suffix", [".png", ".tif"])
    def test_grey8(self, tmp_path, suffix):
        g = _rgb8()[..., 0]
        Image.fromarray(g).save(tmp_path / f"g{suffix}")
        pic = images.read_image(tmp_path / f"g{suffix}")
        assert pic.is_grey and pic.bit_depth == 8
        np.testing.assert_array_equal(pic.pixels, g)

    @pytest.mark.parametrize("suffix", [".png", ".tif"])
    def test_grey16(self, tmp_path, suffix):
        g = _rgb16()[..., 1]
        Image.fromarray(g).save(tmp_path / f"g{suffix}")  # Pillow writes mode I;16 as 16-bit grey
        pic = images.read_image(tmp_path / f"g{suffix}")
        assert pic.bit_depth == 16 and pic.pixels.dtype == np.uint16 and pic.is_grey
        np.testing.assert_array_equal(pic.pixels, g)

    @pytest.mark.parametrize("suffix", [".png", ".tif"])
    def test_rgb16_written_by_opencv(self, tmp_path, suffix):
        a = _rgb16()
        assert cv2.imwrite(str(tmp_path / f"c{suffix}"), a[..., ::-1])  # OpenCV takes BGR
        pic = images.read_image(tmp_path / f"c{suffix}")
        assert pic.bit_depth == 16
        np.testing.assert_array_equal(pic.pixels, a)  # full 16 bits, channels in RGB order
        # Pillow's own (8-bit) reading agrees on the channel order
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / f"c{suffix}").convert("RGB")), a >> 8)

    def test_rgba8_composited_on_white(self, tmp_path):
        rgba = np.concatenate([_rgb8(4, 6), RNG.integers(0, 256, (4, 6, 1), dtype=np.uint8)], axis=2)
        rgba[0, :, 3] = 0
        rgba[1, :, 3] = 255
        Image.fromarray(rgba).save(tmp_path / "a.png")
        pic = images.read_image(tmp_path / "a.png")
        assert pic.pixels.shape == (4, 6, 3)
        assert (pic.pixels[0] == 255).all()  # fully transparent -> white
        np.testing.assert_array_equal(pic.pixels[1], rgba[1, :, :3])  # opaque -> unchanged
        white = Image.new("RGBA", (6, 4), (255, 255, 255, 255))
        oracle = np.asarray(Image.alpha_composite(white, Image.fromarray(rgba)).convert("RGB")).astype(int)
        assert np.abs(pic.pixels.astype(int) - oracle).max() <= 1

    def test_rgba16_composited_on_white(self, tmp_path):
        rgba = np.concatenate([_rgb16(3, 4), np.zeros((3, 4, 1), np.uint16)], axis=2)
        rgba[0, :, 3] = 0
        rgba[1, :, 3] = 65535
        rgba[2, :, 3] = 32768
        cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
        pic = images.read_image(tmp_path / "a.png")
        assert pic.pixels.shape == (3, 4, 3) and pic.bit_depth == 16
        assert (pic.pixels[0] == 65535).all()
        np.testing.assert_array_equal(pic.pixels[1], rgba[1, :, :3])
        expected = np.rint((rgba[2, :, :3] * 32768.0 + 65535.0 * 32767) / 65535)
        np.testing.assert_allclose(pic.pixels[2], expected, atol=1)

    def test_grey_alpha_8_and_16(self, tmp_path):
        la8 = np.stack([_rgb8(3, 4)[..., 0], np.full((3, 4), 255, np.uint8)], axis=2)
        la8[0, :, 1] = 0
        Image.fromarray(la8, "LA").save(tmp_path / "la8.png")
        pic = images.read_image(tmp_path / "la8.png")
        assert pic.is_grey and pic.bit_depth == 8
        assert (pic.pixels[0] == 255).all()
        np.testing.assert_array_equal(pic.pixels[1:], la8[1:, :, 0])

        la16 = np.stack([_rgb16(3, 4)[..., 0], np.full((3, 4), 65535, np.uint16)], axis=2)
        la16[0, :, 1] = 0
        (tmp_path / "la16.png").write_bytes(_png(4, 3, 16, 4, la16))
        pic = images.read_image(tmp_path / "la16.png")
        assert pic.is_grey and pic.bit_depth == 16
        assert (pic.pixels[0] == 65535).all()
        np.testing.assert_array_equal(pic.pixels[1:], la16[1:, :, 0])

    def test_palette(self, tmp_path):
        idx = RNG.integers(0, 4, (4, 5), dtype=np.uint8)
        palette = np.array([[255, 0, 0], [0, 128, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
        im = Image.fromarray(idx, "P")
        im.putpalette(palette.ravel().tolist())
        im.save(tmp_path / "p.png")
        pic = images.read_image(tmp_path / "p.png")
        assert pic.bit_depth == 8
        np.testing.assert_array_equal(pic.pixels, palette[idx])
        im.save(tmp_path / "pt.png", transparency=3)
        pic = images.read_image(tmp_path / "pt.png")
        expected = palette[idx]
        expected[idx == 3] = 255
        np.testing.assert_array_equal(pic.pixels, expected)

    def test_cmyk_becomes_rgb_without_its_profile(self, tmp_path):
        Image.fromarray(_rgb8(8, 8)).convert("CMYK").save(tmp_path / "c.jpg")
        pic = images.read_image(tmp_path / "c.jpg")
        assert pic.pixels.shape == (8, 8, 3) and pic.icc_profile is None

    def test_photo_jpeg(self, tmp_path):
        photo = skdata.astronaut()[::4, ::4]
        Image.fromarray(photo).save(tmp_path / "p.jpg", quality=95)
        pic = images.read_image(tmp_path / "p.jpg")
        assert pic.pixels.shape == photo.shape
        mse = np.mean((pic.pixels.astype(float) - photo) ** 2)
        assert 10 * np.log10(255**2 / mse) > 30


# --------------------------------------------------------------------------- orientation


class TestOrientation:
    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_png8_all_values(self, tmp_path, orientation):
        a = _rgb8(3, 5)
        Image.fromarray(a).save(tmp_path / "o.png", exif=_exif(orientation))
        pic = images.read_image(tmp_path / "o.png")
        np.testing.assert_array_equal(pic.pixels, _pillow_upright(a, orientation))
        carried = _exif_tags(pic.exif)
        assert carried[0x0112] == 1 and carried[271] == "TestCam"
        assert carried.get_ifd(0x8769)[36867] == DATE

    @pytest.mark.parametrize("orientation", [3, 6, 8])
    def test_jpeg_photo(self, tmp_path, orientation):
        photo = skdata.astronaut()[::8, ::4]  # 64 x 128: not square
        Image.fromarray(photo).save(tmp_path / "o.jpg", quality=98, exif=_exif(orientation))
        pic = images.read_image(tmp_path / "o.jpg")
        expected = _pillow_upright(np.asarray(Image.open(tmp_path / "o.jpg")), orientation)
        np.testing.assert_array_equal(pic.pixels, expected)
        assert pic.pixels.shape[:2] == ((128, 64) if orientation in (6, 8) else (64, 128))
        assert _exif_tags(pic.exif)[0x0112] == 1

    @pytest.mark.parametrize("orientation", range(1, 9))
    @pytest.mark.parametrize("bits", [8, 16])
    def test_tiff_tag(self, tmp_path, orientation, bits):
        # 16-bit colour goes through OpenCV, which (via libtiff) applies the TIFF tag itself
        a8 = _rgb8(3, 5)
        a = a8 if bits == 8 else a8.astype(np.uint16) * 257
        tag = (274, "H", 1, orientation, True)  # Orientation
        tifffile.imwrite(tmp_path / "o.tif", a, photometric="rgb", metadata=None, extratags=[tag])
        pic = images.read_image(tmp_path / "o.tif")
        assert pic.bit_depth == bits
        expected = _pillow_upright(a8, orientation)
        np.testing.assert_array_equal(pic.pixels, expected if bits == 8 else expected.astype(np.uint16) * 257)

    @pytest.mark.parametrize("orientation", [3, 5, 6, 7, 8])
    def test_png16_rgb(self, tmp_path, orientation):
        a8 = _rgb8(3, 5)
        data = images.encode_image(a8.astype(np.uint16) * 257, "png", exif=_exif(None))
        # encode_image always writes Orientation 1; set the tag the way a camera app would
        ex = Image.open(io.BytesIO(data)).getexif()
        assert ex.get(0x0112, 1) == 1
        fixture = bytearray(data)
        exif_start = data.index(b"eXIf") + 4
        body = _exif_tags(_exif(orientation)).tobytes()[6:]
        old_len = struct.unpack(">I", data[exif_start - 8 : exif_start - 4])[0]
        new_chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
        fixture[exif_start - 8 : exif_start + old_len + 4] = new_chunk
        (tmp_path / "o.png").write_bytes(bytes(fixture))
        pic = images.read_image(tmp_path / "o.png")
        assert pic.bit_depth == 16
        np.testing.assert_array_equal(pic.pixels, _pillow_upright(a8, orientation).astype(np.uint16) * 257)
        assert _exif_tags(pic.exif)[0x0112] == 1


# --------------------------------------------------------------------------- writing


class TestWrite:
    @pytest.mark.parametrize("fmt", ["png", "tiff"])
    @pytest.mark.parametrize("grey", [False, True])
    def test_16bit_round_trip_exact(self, tmp_path, fmt, grey):
        a = _rgb16(6, 9)
        if grey:
            a = a[..., 2]
        path = images.write_image(tmp_path / f"r.{fmt}", a)
        pic = images.read_image(path)
        assert pic.bit_depth == 16 and a.max() > 255
        np.testing.assert_array_equal(pic.pixels, a)
        # an independent reader sees the same 16-bit samples in RGB order
        other = tifffile.imread(path) if fmt == "tiff" else cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if fmt == "png" and not grey:
            other = other[..., ::-1]
        np.testing.assert_array_equal(other, a)

    @pytest.mark.parametrize("fmt", ["png", "tiff", "jpg"])
    @pytest.mark.parametrize("grey", [False, True])
    def test_8bit_round_trip(self, tmp_path, fmt, grey):
        a = skdata.astronaut()[::8, ::8].copy()
        if grey:
            a = a[..., 1].copy()
        pic = images.read_image(images.write_image(tmp_path / f"r.{fmt}", a, quality=100))
        assert pic.bit_depth == 8 and pic.pixels.shape == a.shape
        if fmt == "jpg":
            assert np.abs(pic.pixels.astype(int) - a).mean() < 2
        else:
            np.testing.assert_array_equal(pic.pixels, a)

    def test_bit_depth_conversion_is_exact(self):
        a8 = _rgb8()
        png16 = images.encode_image(a8, "png", bit_depth=16)
        back = cv2.imdecode(np.frombuffer(png16, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
        np.testing.assert_array_equal(back, a8.astype(np.uint16) * 257)
        png8 = images.encode_image(np.ascontiguousarray(back), "png", bit_depth=8)
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png8))), a8)
        floats = np.array([[0.0, 0.5, 1.0, 1.7, -0.2, np.nan]], np.float32)
        g = np.asarray(Image.open(io.BytesIO(images.encode_image(floats, "png", bit_depth=8))))
        np.testing.assert_array_equal(g, [[0, 128, 255, 255, 0, 0]])

    def test_jpeg_16bit_refused(self, tmp_path):
        with pytest.raises(UsageError, match="JPEG holds only 8 bits.*--format png or tiff"):
            images.encode_image(_rgb16(), "jpg", bit_depth=16)
        with pytest.raises(UsageError, match="bit depth 12"):
            images.encode_image(_rgb16(), "png", bit_depth=12)
        with pytest.raises(UsageError, match="unknown output format 'gif'"):
            images.encode_image(_rgb8(), "gif")
        with pytest.raises(UsageError, match="float pixels need an explicit bit_depth"):
            images.encode_image(np.zeros((2, 2), np.float32), "png")
        with pytest.raises(ValueError, match=r"Got \(2, 2, 4\)"):
            images.encode_image(np.zeros((2, 2, 4), np.uint8), "png")

    @pytest.mark.parametrize("fmt,bits", [("png", 8), ("png", 16), ("tiff", 8), ("tiff", 16), ("jpg", 8)])
    def test_metadata_carried(self, tmp_path, fmt, bits):
        a = _rgb16() if bits == 16 else _rgb8()
        prov = {"model": "colorgan-tiny", "task": "colourise", "note": "ünïcode"}
        path = images.write_image(
            tmp_path / f"m.{fmt}", a, exif=_exif(6), icc_profile=SRGB_ICC, provenance=prov
        )
        with Image.open(path) as im:
            assert im.info.get("icc_profile") == SRGB_ICC
            ex = im.getexif()
            assert ex[271] == "TestCam" and ex[272] == "T-1"
            assert ex.get(0x0112, 1) == 1  # pixels are upright: the tag must not rotate them again
            assert ex.get_ifd(0x8769)[36867] == DATE
            assert float(ex.get_ifd(0x8769)[33434]) == pytest.approx(1 / 250)
            assert ex.get_ifd(0x8825)[1] == "N"
        assert images.read_metadata_provenance(path) == {"rawcolour": __version__, **prov}
        pic = images.read_image(path)
        assert pic.icc_profile == SRGB_ICC
        assert _exif_tags(pic.exif).get_ifd(0x8769)[36867] == DATE
        if fmt == "tiff":
            with tifffile.TiffFile(path) as tf:
                tags = tf.pages[0].tags
                assert tags["Software"].value == f"rawcolour {__version__}"
                assert json.loads(tags["ImageDescription"].value)["model"] == "colorgan-tiny"
                assert tags["ExifTag"].value["DateTimeOriginal"] == DATE
                assert tags["InterColorProfile"].value == SRGB_ICC
        if fmt == "png":
            with Image.open(path) as im:
                assert im.text["Software"] == f"rawcolour {__version__}"

    def test_tiff_input_exif_carried(self, tmp_path):
        Image.fromarray(_rgb8()).save(tmp_path / "in.tif", exif=_exif(1))
        pic = images.read_image(tmp_path / "in.tif")
        carried = _exif_tags(pic.exif)
        assert carried[271] == "TestCam" and carried.get_ifd(0x8769)[36867] == DATE

    def test_an_oversized_exif_block_is_not_carried(self, tmp_path):
        exif = bytes(_exif(1))
        Image.fromarray(_rgb8()).save(tmp_path / "ok.png", exif=exif)
        assert _exif_tags(images.read_image(tmp_path / "ok.png").exif)[271] == "TestCam"
        bloated = exif + bytes(20_000_000)  # a valid block with 20 MB of padding: into every output
        Image.fromarray(_rgb8()).save(tmp_path / "bloated.png", exif=bloated)
        assert images.read_image(tmp_path / "bloated.png").exif is None

    def test_mismatched_icc_left_out(self):
        grey_profile = bytearray(SRGB_ICC)
        grey_profile[16:20] = b"GRAY"
        data = images.encode_image(_rgb8(), "png", icc_profile=bytes(grey_profile))
        assert "icc_profile" not in Image.open(io.BytesIO(data)).info
        data = images.encode_image(_rgb8()[..., 0], "png", icc_profile=bytes(grey_profile))
        assert Image.open(io.BytesIO(data)).info["icc_profile"] == bytes(grey_profile)

    def test_foreign_file_has_no_provenance(self, tmp_path):
        Image.fromarray(_rgb8()).save(tmp_path / "f.jpg", comment=b"not json")
        Image.fromarray(_rgb8()).save(tmp_path / "f.png")
        assert images.read_metadata_provenance(tmp_path / "f.jpg") == {}
        assert images.read_metadata_provenance(tmp_path / "f.png") == {}

    def test_format_names(self, tmp_path):
        assert [images.normalise_format(n) for n in ("PNG", ".tif", "tiff", "jpeg", "JPG")] == [
            "png", "tiff", "tiff", "jpg", "jpg"
        ]
        assert images.format_for_path("a/b.JPEG") == "jpg"
        with pytest.raises(UsageError, match=r"b\.gif: cannot tell the output format"):
            images.write_image(tmp_path / "b.gif", _rgb8())
        assert {".png", ".jpg", ".jpeg", ".tif", ".tiff"} <= images.IMAGE_EXTENSIONS
        path = images.write_image(tmp_path / "noext", _rgb8(), "tif")
        assert Image.open(path).format == "TIFF"


class TestAtomicWrite:
    @pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists(os.devnull), reason="no FIFOs or devices")
    def test_a_device_a_fifo_or_a_link_to_one_is_never_replaced(self, tmp_path):
        os.mkfifo(tmp_path / "fifo.png")
        os.symlink(os.devnull, tmp_path / "null.png")  # as /dev/stdout is a link to /proc/self/fd/1
        (tmp_path / "plain.png").write_bytes(b"old")
        os.symlink(tmp_path / "plain.png", tmp_path / "link.png")
        for name, kind in (("fifo.png", "it is a FIFO"), ("null.png", "it is a link to a character device")):
            with pytest.raises(OutputError, match=f"{kind}, not a regular file; nothing was written"):
                images.write_image(tmp_path / name, _rgb8())
        assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo.png").st_mode)
        assert os.readlink(tmp_path / "null.png") == os.devnull
        images.write_image(tmp_path / "link.png", _rgb8())  # a link to a regular file: replaced, as before
        assert not os.path.islink(tmp_path / "link.png") and (tmp_path / "plain.png").read_bytes() == b"old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.png", "link.png", "null.png", "plain.png"]

    def test_failed_rename_leaves_nothing(self, tmp_path, monkeypatch):
        target = tmp_path / "out.png"
        target.write_bytes(b"old contents")

        def full_disk(src, dst):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(images.os, "replace", full_disk)
        with pytest.raises(OutputError) as info:
            images.write_image(target, _rgb8())
        message = str(info.value)
        assert message.startswith(str(target)) and "disk is full" in message and "nothing was written" in message
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
        assert target.read_bytes() == b"old contents"

    def test_failed_fsync_leaves_nothing(self, tmp_path, monkeypatch):
        def broken(fd):
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(images.os, "fsync", broken)
        with pytest.raises(OutputError, match="Input/output error"):
            images.write_image(tmp_path / "out.tif", _rgb16())
        assert list(tmp_path.iterdir()) == []

    def test_interrupt_leaves_nothing(self, tmp_path, monkeypatch):
        def interrupted(src, dst):
            raise KeyboardInterrupt

        monkeypatch.setattr(images.os, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            images.write_image(tmp_path / "out.png", _rgb8())
        assert list(tmp_path.iterdir()) == []

    def test_read_only_folder(self, tmp_path):
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            if _is_root_like(folder):
                pytest.skip("chmod does not stop writes here (running as root)")
            with pytest.raises(OutputError, match="permission denied.*nothing was written"):
                images.write_image(folder / "out.png", _rgb8())
            assert list(folder.iterdir()) == []
        finally:
            folder.chmod(0o755)

    @pytest.mark.parametrize(
        "code,words", [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only"), (errno.ENOSPC, "disk is full")]
    )
    def test_cannot_create_temp_file(self, tmp_path, monkeypatch, code, words):
        # what a read-only folder does even where chmod cannot show it (root)
        def refuse(*args, **kwargs):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(images.os, "open", refuse)
        with pytest.raises(OutputError, match=f"{words}.*nothing was written"):
            images.write_image(tmp_path / "out.png", _rgb8())
        assert list(tmp_path.iterdir()) == []

    def test_missing_folder_and_folder_target(self, tmp_path):
        with pytest.raises(OutputError, match="folder does not exist"):
            images.write_image(tmp_path / "nope" / "out.png", _rgb8())
        (tmp_path / "d.png").mkdir()
        with pytest.raises(OutputError, match="it is a folder"):
            images.write_image(tmp_path / "d.png", _rgb8())

    def test_success_mode_and_replace(self, tmp_path):
        target = tmp_path / "out.png"
        target.write_bytes(b"old")
        images.write_image(target, _rgb8())
        assert Image.open(target).size == (7, 5)
        umask = os.umask(0)
        os.umask(umask)
        assert target.stat().st_mode & 0o777 == 0o666 & ~umask
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]

    def test_same_file(self, tmp_path):
        a = tmp_path / "a.png"
        a.write_bytes(b"x")
        (tmp_path / "b.png").write_bytes(b"x")
        os.symlink(a, tmp_path / "link.png")
        assert files.same_file(a, tmp_path / "link.png")
        assert files.same_file(a, tmp_path / "sub" / ".." / "a.png")
        assert not files.same_file(a, tmp_path / "b.png")
        assert not files.same_file(a, tmp_path / "missing.png")


# --------------------------------------------------------------------------- bad inputs


class TestBadInputs:
    def _assert_input_error(self, path, pattern):
        with pytest.raises(InputError) as info:
            images.read_image(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and "\n" not in message
        assert pattern in message, message
        return message

    @pytest.mark.parametrize("width,height", [(20_000, 15_000), (100_000, 100_000)])
    def test_bomb_guard_before_decode(self, tmp_path, monkeypatch, width, height):
        # the header claims a huge image; the pixel data is a few bytes of nonsense
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        idat = zlib.compress(b"\0" * 10)
        bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
        (tmp_path / "bomb.png").write_bytes(bomb)

        def no_decoding(self):
            raise AssertionError("decoded before the size check")

        monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
        megapixels = f"{width * height / 1e6:.1f} megapixels"
        message = self._assert_input_error(tmp_path / "bomb.png", megapixels)
        assert "--max-pixels" in message and "limit of 250 megapixels" in message
        if width * height < 2 * images.DEFAULT_MAX_PIXELS:  # below Pillow's own (2x) header check
            assert f"{width}x{height}" in message

    def test_max_pixels_argument(self, tmp_path):
        Image.fromarray(_rgb8()).save(tmp_path / "s.png")
        with pytest.raises(InputError, match="7x5 = 0.0 megapixels.*--max-pixels"):
            images.read_image(tmp_path / "s.png", max_pixels=34)
        assert images.read_image(tmp_path / "s.png", max_pixels=35).pixels.shape == (5, 7, 3)

    def test_zero_bytes(self, tmp_path):
        (tmp_path / "empty.png").write_bytes(b"")
        self._assert_input_error(tmp_path / "empty.png", "empty (0 bytes)")

    def test_text_named_png(self, tmp_path):
        (tmp_path / "notes.png").write_text("these are my holiday notes\n")
        self._assert_input_error(tmp_path / "notes.png", "is a text file, not an image")

    def test_binary_junk(self, tmp_path):
        (tmp_path / "junk.jpg").write_bytes(bytes(range(256)))
        self._assert_input_error(tmp_path / "junk.jpg", "not an image format")

    @pytest.mark.parametrize(
        "name,make",
        [
            ("t8.png", lambda p: Image.fromarray(_rgb8(64, 64)).save(p)),
            ("t16.png", lambda p: cv2.imwrite(str(p), _rgb16(64, 64))),
            ("t.jpg", lambda p: Image.fromarray(skdata.astronaut()[::4, ::4]).save(p)),
            ("t16.tif", lambda p: tifffile.imwrite(p, _rgb16(64, 64), photometric="rgb")),
        ],
    )
    def test_truncated(self, tmp_path, name, make, capfd):
        path = tmp_path / name
        make(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        self._assert_input_error(path, "truncated or corrupt")
        assert capfd.readouterr().err == ""  # no decoder chatter on stderr

    def test_missing_and_folder(self, tmp_path):
        self._assert_input_error(tmp_path / "missing.png", "no such file")
        (tmp_path / "dir.png").mkdir()
        self._assert_input_error(tmp_path / "dir.png", "is a folder")

    def test_unreadable(self, tmp_path):
        path = tmp_path / "secret.png"
        Image.fromarray(_rgb8()).save(path)
        path.chmod(0)
        try:
            try:
                path.read_bytes()
                pytest.skip("chmod does not stop reads here (running as root)")
            except PermissionError:
                pass
            self._assert_input_error(path, "permission denied")
        finally:
            path.chmod(0o644)

    def test_provenance_of_bad_file(self, tmp_path):
        (tmp_path / "empty.png").write_bytes(b"")
        with pytest.raises(InputError, match="empty"):
            images.read_metadata_provenance(tmp_path / "empty.png")


class TestFloat:
    @pytest.mark.parametrize("dtype,bits", [(np.uint8, 8), (np.uint16, 16)])
    def test_exact_round_trip(self, dtype, bits):
        every = np.arange(np.iinfo(dtype).max + 1, dtype=dtype)
        f = pixels.to_float(every)
        assert f.dtype == np.float32 and f[0] == 0.0 and f[-1] == 1.0
        np.testing.assert_array_equal(pixels.from_float(f, bits), every)

    def test_float_input_is_clipped_into_a_new_array(self):
        x = np.array([-0.5, 0.25, 1.5], np.float64)
        f = pixels.to_float(x)
        assert f.dtype == np.float32 and f.tolist() == [0.0, 0.25, 1.0]
        assert x.tolist() == [-0.5, 0.25, 1.5]  # the input is untouched
        y = np.array([0.5], np.float32)
        assert pixels.to_float(y) is not y

    def test_rounding_clipping_nan(self):
        x = np.array([-1.0, 0.0, 0.49 / 255, 0.51 / 255, 1.0, 2.0, np.nan, np.inf])
        np.testing.assert_array_equal(pixels.from_float(x, 8), [0, 0, 0, 1, 255, 255, 0, 255])
        assert pixels.from_float(np.array([1 / 255]), 8)[0] == 1
        assert pixels.from_float(np.array([0.5]), 16).dtype == np.uint16
        with pytest.raises(TypeError, match="Got int64"):
            pixels.to_float(np.zeros(3, np.int64))
        with pytest.raises(UsageError, match="bit depth 10"):
            pixels.from_float(np.zeros(3), 10)


class TestFastEncoders:
    """The strip-wise depth conversions and the tiled, multi-threaded TIFF / run-length PNG settings
    give exactly the pixels the previous whole-array formulas and encoder settings gave."""

    @staticmethod
    def _previous_from_float(x: np.ndarray, bits: int) -> np.ndarray:
        dtype = np.uint8 if bits == 8 else np.uint16
        return np.rint(np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0) * np.iinfo(dtype).max).astype(dtype)

    def _floats(self, dtype) -> np.ndarray:
        x = np.random.default_rng(5).uniform(-0.1, 1.1, (301, 233, 3)).astype(dtype)  # > 1 strip, odd sizes
        x[0, :4, 0] = [np.nan, np.inf, -np.inf, 0.5 / 65535]
        x[300, -1] = [1.0, 0.0, 0.5]
        x[150, 7] = (np.arange(3) + 0.5) / 255  # exact halves round to even, as np.rint does
        return x

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("bits", [8, 16])
    def test_from_float_matches_whole_array_formula(self, dtype, bits):
        x = self._floats(dtype)
        for view in (x, x[::-1, ::2], x.transpose(1, 0, 2), x[..., 1], x[7, :, 0]):
            np.testing.assert_array_equal(pixels.from_float(view, bits), self._previous_from_float(view, bits))
        assert pixels.from_float(np.float32(0.5), 8) == 128  # 0-d

    def test_from_float_half_precision_reaches_white(self):
        x = np.array([[0.0, 0.5, 1.0, 2.0]], np.float16)
        np.testing.assert_array_equal(pixels.from_float(x, 16), [[0, 32768, 65535, 65535]])

    def test_16_to_8_bits_every_value(self):
        every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
        expected = ((every.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        np.testing.assert_array_equal(pixels.to_depth(every, 8), expected)
        np.testing.assert_array_equal(pixels.to_depth(np.stack([every] * 3, -1)[::-1], 8), np.stack([expected] * 3, -1)[::-1])

    @pytest.mark.parametrize("bits", [8, 16])
    @pytest.mark.parametrize("grey", [False, True])
    def test_tiled_tiff_reads_back_everywhere(self, tmp_path, bits, grey):
        dtype = np.uint8 if bits == 8 else np.uint16
        a = np.random.default_rng(bits).integers(0, np.iinfo(dtype).max + 1, (300, 530, 3), dtype=dtype)
        if grey:
            a = a[..., 0].copy()
        path = images.write_image(tmp_path / "t.tif", a)
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            assert page.is_tiled and page.compression == 8 and page.predictor == 2  # deflate, horizontal
            np.testing.assert_array_equal(page.asarray(), a)
        np.testing.assert_array_equal(images.read_image(path).pixels, a)  # OpenCV's libtiff for 16-bit colour
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(decoded if grey else decoded[..., ::-1], a)
        with Image.open(path) as im:  # Pillow reads the tiles too (it truncates 16-bit colour to 8 bits)
            im.load()
            if bits == 8 or grey:
                np.testing.assert_array_equal(np.asarray(im), a)

    @pytest.mark.parametrize("bits", [8, 16])
    def test_png_decodes_to_the_previous_encoders_pixels(self, bits):
        dtype = np.uint8 if bits == 8 else np.uint16
        a = np.random.default_rng(3).integers(0, np.iinfo(dtype).max + 1, (120, 97, 3), dtype=dtype)
        previous = cv2.imencode(".png", np.ascontiguousarray(a[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])[1]
        now = images.encode_image(a, "png")
        decode = lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED)  # noqa: E731
        np.testing.assert_array_equal(decode(now), decode(previous.tobytes()))
        np.testing.assert_array_equal(decode(now)[..., ::-1], a)


def test_signed_samples_are_refused_as_signed(tmp_path):
    path = tmp_path / "signed.tif"
    tifffile.imwrite(path, skdata.camera().astype(np.int16) - 128)
    with pytest.raises(InputError, match="signed or 32-bit integer samples are not supported.*unsigned 8- or 16-bit"):
        images.read_image(path)


def test_a_multi_page_tiff_says_only_its_first_page_was_read(tmp_path):
    path = tmp_path / "pages.tif"
    first, second = skdata.camera(), skdata.camera()[::-1]
    with tifffile.TiffWriter(path) as tif:
        tif.write(first)
        tif.write(second)
    picture = images.read_image(path)
    np.testing.assert_array_equal(picture.pixels, first)
    assert picture.notes == ("the file holds 2 pictures (pages or frames); only the first was read",)
    tifffile.imwrite(tmp_path / "one.tif", first)
    assert images.read_image(tmp_path / "one.tif").notes == ()


@pytest.mark.parametrize("pixels, words", [
    (lambda: (skdata.camera() / 255).astype(np.float16), "16-bit floating-point samples, 1 per pixel"),
    (lambda: skdata.camera() / 255.0, "64-bit floating-point samples, 1 per pixel"),
    (lambda: np.stack([skdata.camera()] * 5, -1), "8-bit unsigned integer samples, 5 per pixel"),
], ids=["float16", "float64", "5-channels"])
def test_a_valid_tiff_of_a_kind_we_do_not_read_is_not_called_corrupt(tmp_path, pixels, words):
    path = tmp_path / "kind.tif"
    tifffile.imwrite(path, pixels(), photometric="minisblack", planarconfig="contig")  # 5 samples per pixel
    with pytest.raises(InputError, match=f"TIFF with {words} is not supported; export it as 8- or 16-bit") as err:
        images.read_image(path)
    assert "corrupt" not in str(err.value)


def test_previews_and_thumbnails_are_not_extra_pictures(tmp_path):
    # a camera JPEG with a preview (MPO) and a TIFF with a reduced-resolution page hold one picture
    camera = skdata.camera()
    Image.fromarray(camera).save(tmp_path / "shot.mpo", format="MPO", save_all=True,
                                 append_images=[Image.fromarray(camera[::4, ::4])])
    jpeg = tmp_path / "shot.jpg"
    (tmp_path / "shot.mpo").rename(jpeg)
    with Image.open(jpeg) as im:
        assert im.format == "MPO" and im.n_frames == 2  # what Pillow sees
    assert images.read_image(jpeg).notes == ()
    with tifffile.TiffWriter(tmp_path / "thumb.tif") as tif:
        tif.write(camera)
        tif.write(camera[::4, ::4], subfiletype=1)  # reduced-resolution image
    assert images.read_image(tmp_path / "thumb.tif").notes == ()


def test_a_tiff_in_a_compression_we_cannot_decode_names_the_compression(tmp_path):
    path = tmp_path / "j2k.tif"
    try:
        tifffile.imwrite(path, skdata.astronaut(), compression="jpeg2000")
    except (ValueError, NotImplementedError, KeyError):  # imagecodecs without JPEG 2000
        pytest.skip("tifffile cannot write JPEG 2000 here")
    try:
        with Image.open(path) as im:
            im.load()
        pytest.skip("this Pillow reads JPEG 2000 TIFFs")
    except (OSError, ValueError):
        pass
    with pytest.raises(InputError, match="TIFF with JPEG2000 compression is not supported; re-save it"):
        images.read_image(path)


def test_a_12_bit_tiff_is_scaled_to_the_full_16_bit_range(tmp_path):
    # Pillow unpacks 12-bit samples to uint16 values below 4096; read as 16-bit they were almost black
    values = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    path = tmp_path / "g12.tif"
    tifffile.imwrite(path, values, bitspersample=12)
    assert tifffile.imread(path).max() == 4095  # what the file holds
    picture = images.read_image(path)
    assert picture.bit_depth == 16 and picture.pixels.dtype == np.uint16
    expected = np.round(values.astype(np.float64) * 65535 / 4095).astype(np.uint16)
    assert np.array_equal(picture.pixels, expected)
    assert picture.pixels.min() == 0 and picture.pixels.max() == 65535  # the ends are exact


@pytest.mark.parametrize("bits, shape", [(10, (32, 32)), (14, (32, 32)), (12, (32, 32, 3))], ids=["10", "14", "rgb12"])
def test_a_tiff_of_other_bit_depths_is_refused_by_its_depth_not_its_compression(tmp_path, bits, shape):
    # these Pillow cannot open; they are uncompressed, so "re-save it uncompressed" was no advice
    path = tmp_path / f"g{bits}.tif"
    tifffile.imwrite(path, np.zeros(shape, np.uint16), bitspersample=bits,
                     photometric="rgb" if len(shape) == 3 else "minisblack")
    samples = shape[2] if len(shape) == 3 else 1
    with pytest.raises(InputError, match=f"TIFF with {bits}-bit unsigned integer samples, {samples} per pixel is "
                                         "not supported; export it as 8- or 16-bit") as err:
        images.read_image(path)
    assert "compression" not in str(err.value)
