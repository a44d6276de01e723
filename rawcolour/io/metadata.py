"""Picture metadata, read and written in one place: EXIF, ICC profiles and rawcolour's provenance.

Reading:
- :func:`camera_exif`: the camera's EXIF from a RAW file, read with exifread (TIFF-based RAW
  formats: DNG, NEF, CR2, ARW, ORF, RW2, PEF, ...) and rebuilt with Pillow's ``Image.Exif`` as a
  fresh block of the tags a photographer expects to keep (:data:`CAMERA_TAGS`, :data:`EXIF_TAGS`,
  the whole GPS IFD): maker notes, thumbnails and private tags stay behind.
- :func:`upright_exif`, :func:`exif_from_tiff`, :func:`exif_orientation`,
  :func:`pillow_orientation`: the EXIF of ordinary input pictures, carried into outputs.
- :func:`camera_name`: "Make Model" from a RAW file's first TIFF IFD, read with tifffile.
- :func:`read_metadata_provenance`: the record rawcolour wrote into one of its outputs.

Writing (:class:`OutputMetadata`, one per encoded picture): the output is upright, so EXIF
Orientation is 1; the ICC profile goes where each format keeps it; the provenance is one JSON
object ``{"rawcolour": version, ...}``:

- PNG: rawcolour.io.png encodes the pixels (Pillow cannot write 48-bit PNG), with the ``iCCP``,
  ``eXIf`` and ``tEXt`` (``Software``, ``rawcolour``) chunks :func:`png_metadata_chunks` makes
  right after ``IHDR``, where readers look for them before the pixels.
- TIFF: tifffile writes ``Software``, ``ImageDescription`` (the JSON), the ICC profile (tag
  34675) and EXIF's camera tags in IFD0. The EXIF and GPS sub-IFDs are laid out by Pillow's IFD
  writer and appended; tifffile will not write the pointer tags to them, so placeholders are
  written and turned into the real pointers (:func:`link_tiff_sub_ifds`).
- JPEG: Pillow writes EXIF as APP1, ICC as APP2 and the JSON as the COM comment.

Where bytes are patched by hand, it is because no library keeps what must be kept: the EXIF of an
input picture gets Orientation 1 in place (:func:`upright_exif`) rather than rewritten by Pillow,
whose rewrite moves the maker notes and breaks their absolute offsets.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image

from rawcolour import __version__
from rawcolour.io.png import chunk

__all__ = [
    "CAMERA_TAGS",
    "EXIF_HEADER",
    "EXIF_TAGS",
    "OutputMetadata",
    "camera_exif",
    "camera_name",
    "exif_from_tiff",
    "exif_orientation",
    "jpeg_metadata_options",
    "link_tiff_sub_ifds",
    "pillow_orientation",
    "png_metadata_chunks",
    "read_metadata_provenance",
    "tiff_metadata_tags",
    "upright_exif",
]

EXIF_HEADER = b"Exif\x00\x00"
ORIENTATION = 0x0112
COLOUR_SPACE_TAG = 0xA001  # EXIF ColorSpace: 1 = sRGB, 0xFFFF = uncalibrated
# EXIF IFD0 text tags that are also TIFF tags: carried into a TIFF's own IFD0 and back.
TIFF_CAMERA_TAGS = (271, 272, 306, 315, 33432)  # Make, Model, DateTime, Artist, Copyright
CAMERA_TAGS = TIFF_CAMERA_TAGS  # what camera_exif keeps of IFD0 (Orientation is written as 1)
# What camera_exif keeps of the EXIF IFD (a DNG may hold these in IFD0 itself).
EXIF_TAGS = (
    33434,  # ExposureTime
    33437,  # FNumber
    34850,  # ExposureProgram
    34855,  # ISOSpeedRatings (PhotographicSensitivity)
    34864,  # SensitivityType
    36867,  # DateTimeOriginal
    36868,  # DateTimeDigitized
    36880, 36881, 36882,  # OffsetTime, OffsetTimeOriginal, OffsetTimeDigitized
    37377,  # ShutterSpeedValue
    37378,  # ApertureValue
    37380,  # ExposureBiasValue
    37381,  # MaxApertureValue
    37383,  # MeteringMode
    37384,  # LightSource
    37385,  # Flash
    37386,  # FocalLength
    37520, 37521, 37522,  # SubsecTime, SubsecTimeOriginal, SubsecTimeDigitized
    41986,  # ExposureMode
    41987,  # WhiteBalance
    41989,  # FocalLengthIn35mmFilm
    42033,  # BodySerialNumber
    42034,  # LensSpecification
    42035,  # LensMake
    42036,  # LensModel
    42037,  # LensSerialNumber
)
# Unassigned tag codes next to the EXIF / GPS pointers, turned into the real codes after writing
# (so IFD0 stays sorted by tag).
_POINTER_PLACEHOLDERS = {0x8769: 0x8768, 0x8825: 0x8824}


# --------------------------------------------------------------------------- the camera's EXIF


def _pillow_value(tag: Any) -> Any:
    """An exifread tag -> the value Pillow's EXIF writer takes (its type follows from the value)."""
    from PIL.TiffImagePlugin import IFDRational

    values = tag.values
    if tag.field_type == 2:  # ASCII
        text = str(values).split("\x00")[0].strip()
        return text or None
    if tag.field_type in (5, 10):  # RATIONAL, SRATIONAL
        items = [IFDRational(int(v.numerator), int(v.denominator)) for v in values if v.denominator]
    elif tag.field_type == 7:  # UNDEFINED
        return bytes(values) if isinstance(values, (list, tuple, bytes)) else None
    elif tag.field_type == 1:  # BYTE: Pillow writes bytes as BYTE
        return bytes(int(v) & 0xFF for v in values) if values else None
    else:
        items = [int(v) for v in values] if isinstance(values, (list, tuple)) else []
    if not items:
        return None
    return items[0] if len(items) == 1 else tuple(items)


def camera_exif(path: str | Path, *, colour_space_tag: int | None = None) -> bytes | None:
    """The camera's EXIF from a RAW file, as an EXIF block for outputs (``b"Exif\\0\\0..."``).

    Kept: make, model, date/time, artist, copyright (:data:`CAMERA_TAGS`), the exposure, lens and
    time tags of :data:`EXIF_TAGS` and the whole GPS IFD; Orientation is 1 (outputs are upright).
    ``colour_space_tag`` sets EXIF ColorSpace (1 = sRGB, 0xFFFF = another space). None when the
    file has no EXIF exifread can read (a packed PNG, an unknown container); never raises.
    """
    import exifread

    try:
        with open(path, "rb") as fh:
            tags = exifread.process_file(fh, details=False, extract_thumbnail=False)
    except Exception:  # noqa: BLE001 -- unreadable metadata costs the metadata, not the picture
        return None
    ifd0: dict[int, Any] = {}
    exif_ifd: dict[int, Any] = {}
    gps: dict[int, Any] = {}
    for key, tag in tags.items():
        group = key.split(" ", 1)[0]
        code = getattr(tag, "tag", None)
        if code is None:
            continue
        if group == "GPS":
            target = gps
        elif group == "EXIF" and code in EXIF_TAGS:
            target = exif_ifd
        elif group == "Image" and code in CAMERA_TAGS:
            target = ifd0
        elif group == "Image" and code in EXIF_TAGS:  # DNG allows EXIF tags in IFD0
            target = exif_ifd
        else:
            continue
        try:
            value = _pillow_value(tag)
        except (TypeError, ValueError, AttributeError):
            value = None
        if value is not None:
            target.setdefault(code, value)
    if not (ifd0 or exif_ifd or gps):
        return None
    exif = Image.Exif()
    for code, value in sorted(ifd0.items()):
        exif[code] = value
    exif[ORIENTATION] = 1
    if colour_space_tag is not None:
        exif_ifd[COLOUR_SPACE_TAG] = int(colour_space_tag)
    if exif_ifd:
        exif[ExifTags.IFD.Exif] = dict(sorted(exif_ifd.items()))
    if gps:
        exif[ExifTags.IFD.GPSInfo] = dict(sorted(gps.items()))
    try:
        return exif.tobytes()
    except Exception:  # noqa: BLE001 -- a tag Pillow cannot write loses the EXIF, not the picture
        return None


def camera_name(path: str | Path) -> str:
    """Best-effort 'Make Model' from the first TIFF IFD (DNG, NEF, CR2, ARW, PEF, ORF, RW2, ...); ""
    when the file has none tifffile can read."""
    import tifffile

    try:
        with tifffile.TiffFile(str(path)) as tif:
            tags = tif.pages.first.tags if hasattr(tif.pages, "first") else tif.pages[0].tags
            found = {code: tags[code].value for code in (271, 272) if code in tags}
    except Exception:  # noqa: BLE001 -- an unreadable header only means "no camera name"
        return ""
    make, model = (found.get(code) if isinstance(found.get(code), str) else "" for code in (271, 272))
    make, model = make.split("\0")[0].strip(), model.split("\0")[0].strip()
    if make and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(s for s in (make, model) if s)


# --------------------------------------------------------------------------- EXIF of input pictures


def pillow_orientation(im: Image.Image) -> int:
    """The EXIF orientation (1..8) of an opened picture (EXIF, TIFF tag or XMP); 1 if unreadable."""
    try:
        value = im.getexif().get(ORIENTATION, 1)
    except Exception:  # noqa: BLE001 (broken EXIF must not stop the picture; it is then not rotated)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def exif_orientation(exif: bytes | None) -> int:
    """The Orientation (1..8) an EXIF block states; 1 if none or unreadable."""
    if not exif:
        return 1
    try:
        value = Image.Exif()
        value.load(exif if exif.startswith(EXIF_HEADER) else EXIF_HEADER + exif)
        orientation = value.get(ORIENTATION, 1)
    except Exception:  # noqa: BLE001
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def _ifd0_entries(tiff: bytes | bytearray) -> tuple[str, list[tuple[int, int, int, int]]]:
    """Byte order and (tag, type, count, entry offset) of each IFD0 entry of a classic TIFF structure."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    if order is None:
        raise ValueError("not a TIFF structure")
    magic, first = struct.unpack_from(order + "HI", tiff, 2)
    if magic != 42:
        raise ValueError("not a classic TIFF structure")
    (count,) = struct.unpack_from(order + "H", tiff, first)
    entries = []
    for i in range(count):
        pos = first + 2 + 12 * i
        tag, typ, n = struct.unpack_from(order + "HHI", tiff, pos)
        entries.append((tag, typ, n, pos))
    return order, entries


MAX_EXIF_BYTES = 65527  # what a JPEG APP1 segment holds after its "Exif\0\0" header


def upright_exif(exif: bytes | None) -> bytes | None:
    """EXIF block (with or without b"Exif\\0\\0") -> b"Exif\\0\\0" + block with Orientation = 1.

    Patched in place rather than rewritten by Pillow, so maker notes with absolute offsets survive.
    Unparseable EXIF gives None: better no EXIF than EXIF that tells viewers to rotate again. So does
    a block above MAX_EXIF_BYTES (a JPEG cannot hold it; a camera never writes one; a hostile PNG
    could make every output carry megabytes of it).
    """
    if not exif:
        return None
    body = bytearray(exif[len(EXIF_HEADER) :] if exif.startswith(EXIF_HEADER) else exif)
    if len(body) > MAX_EXIF_BYTES:
        return None
    try:
        order, entries = _ifd0_entries(body)
        for tag, typ, n, pos in entries:
            if tag == ORIENTATION and typ == 3 and n == 1:  # SHORT, left-justified in the value field
                struct.pack_into(order + "H", body, pos + 8, 1)
    except (ValueError, struct.error):
        return None
    return EXIF_HEADER + bytes(body)


def exif_from_tiff(im: Image.Image) -> bytes | None:
    """A TIFF keeps EXIF as IFD0 tags plus sub-IFDs; rebuild a standalone EXIF block from them."""
    try:
        tags = im.tag_v2
        exif = Image.Exif()
        for tag in TIFF_CAMERA_TAGS:
            if isinstance(tags.get(tag), str) and tags[tag]:
                exif[tag] = tags[tag]
        source = im.getexif()
        for pointer in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            if pointer in tags:
                sub = dict(source.get_ifd(pointer))
                sub.pop(ExifTags.IFD.Interop, None)  # a pointer into the old file
                if sub:
                    exif[pointer] = sub
        if not len(exif):
            return None
        exif[ORIENTATION] = 1
        return exif.tobytes()
    except Exception:  # noqa: BLE001 (broken EXIF in a TIFF loses the EXIF, not the picture)
        return None


def _typed_sub_ifd(exif: bytes, pointer: int) -> Image.TiffImagePlugin.ImageFileDirectory_v2 | None:
    """The sub-IFD ``pointer`` (EXIF or GPS) of an EXIF block, with its tag types, as little-endian."""
    from PIL.TiffImagePlugin import ImageFileDirectory_v2

    body = exif[len(EXIF_HEADER) :] if exif.startswith(EXIF_HEADER) else exif
    fp = io.BytesIO(body)
    ifd0 = ImageFileDirectory_v2(ifh=body[:8])
    fp.seek(ifd0.next)
    ifd0.load(fp)
    if pointer not in ifd0:
        return None
    sub = ImageFileDirectory_v2(ifh=body[:8])
    fp.seek(ifd0[pointer])
    sub.load(fp)
    out = ImageFileDirectory_v2(prefix=b"II")  # tifffile writes little-endian
    for tag in sub:
        if tag == ExifTags.IFD.Interop or tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            continue  # pointers into the old block
        out.tagtype[tag] = sub.tagtype[tag]
        out[tag] = sub[tag]
    return out if len(out) else None


def _exif_ifd0_text(exif: bytes) -> dict[int, str]:
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        return {t: parsed[t] for t in TIFF_CAMERA_TAGS if isinstance(parsed.get(t), str) and parsed[t]}
    except Exception:  # noqa: BLE001
        return {}


# --------------------------------------------------------------------------- writing


def _provenance_json(provenance: dict[str, str] | None) -> str:
    record = {"rawcolour": __version__}
    for key, value in (provenance or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"provenance must map str to str. Got {key!r}: {value!r}")
        record[key] = value
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def _icc_fits(icc: bytes | None, channels: int) -> bytes | None:
    """The profile if its colour space matches the pixels, else None (a Gray profile on RGB output
    from a colouriser, or the reverse, would make the file invalid)."""
    if not icc or len(icc) < 128:
        return None
    space = icc[16:20]
    return icc if (space == b"RGB " and channels == 3) or (space == b"GRAY" and channels == 1) else None


@dataclass(frozen=True)
class OutputMetadata:
    """What goes into one output besides its pixels."""

    exif: bytes | None  # b"Exif\0\0" + block, Orientation 1
    icc: bytes | None  # only a profile that fits the pixels' channels
    text: str  # the provenance JSON

    @classmethod
    def build(cls, *, channels: int, exif: bytes | None = None, icc_profile: bytes | None = None,
              provenance: dict[str, str] | None = None) -> "OutputMetadata":
        """Orientation set to 1, a profile that does not fit the channels left out, provenance as JSON."""
        return cls(upright_exif(exif), _icc_fits(icc_profile, channels), _provenance_json(provenance))


def png_metadata_chunks(meta: OutputMetadata) -> bytes:
    """The ``iCCP``, ``eXIf`` and ``tEXt`` chunks of a PNG (they go right after ``IHDR``)."""
    chunks = []
    if meta.icc:
        chunks.append(chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(meta.icc)))
    if meta.exif:
        chunks.append(chunk(b"eXIf", meta.exif[len(EXIF_HEADER) :]))
    chunks.append(chunk(b"tEXt", b"Software\x00" + f"rawcolour {__version__}".encode("latin-1")))
    chunks.append(chunk(b"tEXt", b"rawcolour\x00" + meta.text.encode("latin-1")))
    return b"".join(chunks)


SubIfds = dict[int, tuple[int, Any]]  # placeholder tag -> (real pointer tag, Pillow IFD)


def tiff_metadata_tags(meta: OutputMetadata) -> tuple[dict[str, Any], SubIfds]:
    """tifffile ``imwrite`` keywords for the metadata (description, software, extratags), and the
    EXIF / GPS sub-IFDs that :func:`link_tiff_sub_ifds` appends after writing."""
    extratags: list[tuple] = []
    subifds: SubIfds = {}
    if meta.icc:
        extratags.append((34675, 7, len(meta.icc), meta.icc, True))  # InterColorProfile, UNDEFINED
    if meta.exif:
        extratags += [(tag, "s", 0, value, True) for tag, value in _exif_ifd0_text(meta.exif).items()]
        for pointer, placeholder in _POINTER_PLACEHOLDERS.items():
            try:
                sub = _typed_sub_ifd(meta.exif, pointer)
            except Exception:  # noqa: BLE001 (a broken sub-IFD is dropped, the image is still written)
                sub = None
            if sub is not None:
                subifds[placeholder] = (pointer, sub)
                extratags.append((placeholder, "I", 1, 0, True))
    keywords = {"metadata": None,  # no tifffile JSON in ImageDescription: ours goes there
                "description": meta.text, "software": f"rawcolour {__version__}", "extratags": extratags}
    return keywords, subifds


def link_tiff_sub_ifds(data: bytes, subifds: SubIfds) -> bytes:
    """Append each sub-IFD to a written TIFF and turn its placeholder tag into the real pointer."""
    if not subifds:
        return data
    out = bytearray(data)
    order, entries = _ifd0_entries(out)
    for tag, _typ, _n, pos in entries:
        if tag in subifds:
            pointer, sub = subifds[tag]
            out += b"\x00" * (len(out) % 2)  # IFDs start on a word boundary
            struct.pack_into(order + "H", out, pos, pointer)
            struct.pack_into(order + "I", out, pos + 8, len(out))
            out += sub.tobytes(len(out))
    return bytes(out)


JPEG_MAX_EXIF = 65533  # an APP1 segment's payload


def jpeg_metadata_options(meta: OutputMetadata) -> dict[str, Any]:
    """Pillow JPEG ``save`` keywords for the metadata; ValueError if the EXIF cannot fit APP1."""
    if meta.exif and len(meta.exif) > JPEG_MAX_EXIF:
        raise ValueError(f"the EXIF block is {len(meta.exif)} bytes, more than a JPEG can hold ({JPEG_MAX_EXIF})")
    options: dict[str, Any] = {"comment": meta.text.encode("ascii")}
    if meta.exif:
        options["exif"] = meta.exif
    if meta.icc:
        options["icc_profile"] = meta.icc
    return options


def read_metadata_provenance(path: str | Path) -> dict[str, str]:
    """The provenance record rawcolour wrote into ``path``; {} if it has none."""
    from rawcolour.io.images import open_picture

    path = Path(path)
    # Headers only (no pixel limit, nothing decoded): our writer puts its record before IDAT /
    # in IFD0 / in the JPEG comment, all parsed by Image.open.
    with open_picture(path, None) as (im, _fh, _head):
        if im.format == "PNG":
            text = im.info.get("rawcolour")
        elif im.format == "TIFF":
            text = im.tag_v2.get(270)
        else:
            text = im.info.get("comment")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        record = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    if not isinstance(record, dict) or "rawcolour" not in record:
        return {}
    return {str(k): str(v) for k, v in record.items()}
