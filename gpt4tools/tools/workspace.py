"""The agent's workspace: every path a tool reads or writes is resolved and checked here."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from PIL import Image

from gpt4tools.tools.errors import ImageFileError, ImageTooLarge, PathOutsideWorkspace, ToolArgumentError

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF", "MPO"})
"""Image formats accepted from users and from paths named by the LLM."""

# The file-name tag each tool puts in the names of the images it writes (after the original tools).
OUTPUT_TAGS: dict[str, str] = {
    "Segmenting": "segment-image",
    "Image2Canny": "edge",
    "CannyText2Image": "canny2image",
    "Image2Depth": "depth",
    "DepthText2Image": "depth2image",
    "InstructPix2Pix": "pix2pix",
    "Image2Scribble": "scribble",
    "ScribbleText2Image": "scribble2image",
    "SegText2Image": "segment2image",
    "Image2Pose": "human-pose",
    "PoseText2Image": "pose2image",
    "Image2Hed": "hed-boundary",
    "HedText2Image": "hed2image",
    "Image2Normal": "normal-map",
    "NormalText2Image": "normal2image",
    "Image2Line": "line-of",
    "LineText2Image": "line2image",
    "Text2Box": "detect-something",
    "ObjectSegmenting": "segmentation",
    "ImageRemoving": "remove-something",
    "ImageReplacing": "replace-something",
    "ImageCropping": "crop",
}


def _clean_stem(text: str) -> str:
    """A file-name stem without the chain separator ``_`` or anything but letters, digits and ``-``."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-") or "image"


class Workspace:
    """A directory the tools may read and write; nothing outside it is touched.

    Args:
        root: the directory (created if missing).
        max_bytes: largest image file accepted.
        max_pixels: largest image (width x height) accepted; guards against decompression bombs.
        image_dir: sub-directory of new uploads and generated images without a source (``image/`` as the original).
    """

    def __init__(self, root: str | Path, max_bytes: int = 20 * 1024 * 1024, max_pixels: int = 40_000_000,
                 image_dir: str = "image") -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.max_pixels = int(max_pixels)
        self.image_dir = image_dir

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # ----------------------------------------------------------------- paths
    def resolve(self, path_text: str) -> Path:
        """Resolve a path written by the LLM relative to the root; refuse anything outside it.

        Raises:
            ToolArgumentError: for an empty path.
            PathOutsideWorkspace: for ``../`` escapes, absolute paths outside the root and symlinks leading out.
        """
        text = str(path_text).strip().strip("\"'`").strip()
        if not text:
            raise ToolArgumentError("empty image path")
        try:
            candidate = Path(text).expanduser()
            if not candidate.is_absolute():
                candidate = self.root / candidate
            resolved = candidate.resolve()  # follows symlinks, so a link pointing out is caught below
        except (ValueError, OSError, RuntimeError) as err:  # NUL bytes, unknown ~user, symlink loops
            raise ToolArgumentError(f"invalid path {text!r}: {err}") from err
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise PathOutsideWorkspace(f"{text!r} is outside the workspace; use a path inside it such as "
                                       f"{self.image_dir}/example.png")
        return resolved

    def relative(self, path: str | Path) -> str:
        """The path text shown to the LLM: relative to the root, with forward slashes."""
        resolved = self.resolve(str(path))
        return resolved.relative_to(self.root).as_posix()

    def new_image_path(self, tool_key: str, source: Path | None = None) -> Path:
        """A fresh ``.png`` path for a tool's output, named as the original names them.

        With a source image the name is ``{uuid4[:4]}_{tag}_{previous}_{original}.png`` in the source's directory:
        ``previous`` is the first part of the source name and ``original`` the name of the first image of the chain.
        Without a source (text-to-image) it is ``image/{uuid4[:8]}.png``.
        """
        if source is None:
            directory = self.root / self.image_dir
            name = f"{uuid.uuid4().hex[:8]}.png"
        else:
            source = self.resolve(str(source))
            directory = source.parent
            parts = source.stem.split("_")
            original = parts[3] if len(parts) == 4 else _clean_stem(source.stem)
            previous = _clean_stem(parts[0]) if len(parts) == 4 else original
            tag = _clean_stem(OUTPUT_TAGS.get(tool_key, tool_key))
            name = f"{uuid.uuid4().hex[:4]}_{tag}_{previous}_{original}.png"
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    # ----------------------------------------------------------------- images
    def check_image_file(self, path: Path) -> None:
        """Validate an image file's existence, size, type and pixel count without decoding it."""
        validate_image_file(path, self.max_bytes, self.max_pixels, shown=self._shown(path))

    def open_image(self, path_text: str) -> tuple[Path, Image.Image]:
        """Resolve, validate and decode an image named by the LLM; returns its path and an RGB image."""
        path = self.resolve(path_text)
        return path, open_image_file(path, self.max_bytes, self.max_pixels, shown=self._shown(path))

    def save_upload(self, image: Image.Image, name: str | None = None, resize: bool = True) -> Path:
        """Validate an uploaded image, resize it as the original agent does and save it as PNG.

        The long side becomes 512 and both sides are rounded to multiples of 64 (``resize=False`` keeps the size).
        The file goes to ``image/{name}.png`` (``name`` cleaned; a short suffix when taken) or
        ``image/{uuid4[:8]}.png``.

        Raises:
            ImageFileError: not a PIL image, or more pixels than ``max_pixels``.
        """
        if not isinstance(image, Image.Image):
            raise ImageFileError(f"upload is a {type(image).__name__}, not an image")
        width, height = image.size
        if width < 1 or height < 1 or width * height > self.max_pixels:
            raise ImageFileError(f"upload of {width}x{height} pixels is outside the limit of {self.max_pixels} pixels")
        image = image.convert("RGB")
        if resize:
            image = image.resize(upload_size(width, height))
        stem = _clean_stem(Path(name).stem) if name else uuid.uuid4().hex[:8]
        directory = self.root / self.image_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{stem}.png"
        if name and path.exists():  # never overwrite an earlier upload of the same name
            path = directory / f"{stem}-{uuid.uuid4().hex[:4]}.png"
        image.save(path, "PNG")
        return path

    def _shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def upload_size(width: int, height: int, long_side: int = 512, multiple: int = 64) -> tuple[int, int]:
    """The original agent's upload size: long side ``long_side``, each side rounded to a multiple of ``multiple``."""
    ratio = min(long_side / width, long_side / height)
    new_w = max(multiple, int(round(round(width * ratio) / multiple)) * multiple)
    new_h = max(multiple, int(round(round(height * ratio) / multiple)) * multiple)
    return new_w, new_h


def validate_image_file(path: Path, max_bytes: int, max_pixels: int, shown: str | None = None) -> None:
    """Check that ``path`` is an image file of an allowed type within the byte and pixel limits (header only).

    Raises:
        ImageTooLarge: over ``max_bytes`` or ``max_pixels``, or a decompression bomb.
        ImageFileError: missing, not an image, or of a type outside :data:`ALLOWED_FORMATS`.
    """
    shown = shown or str(path)
    if not path.is_file():
        raise ImageFileError(f"image {shown} does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise ImageTooLarge(f"image {shown} is {size} bytes, over the limit of {max_bytes}")
    try:
        with Image.open(path) as img:
            fmt, (width, height) = img.format, img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageTooLarge(f"image {shown} refused as a decompression bomb: {err}") from err
    except Image.UnidentifiedImageError as err:  # its message names the file object or the local path
        raise ImageFileError(f"{shown} is not an image of a known type; accepted: "
                             f"{', '.join(sorted(ALLOWED_FORMATS))}") from err
    except OSError as err:
        raise ImageFileError(f"{shown} is not a readable image ({err})") from err
    if fmt not in ALLOWED_FORMATS:
        raise ImageFileError(f"image {shown} has type {fmt}; accepted: {', '.join(sorted(ALLOWED_FORMATS))}")
    if width * height > max_pixels:
        raise ImageTooLarge(f"image {shown} has {width}x{height} pixels, over the limit of {max_pixels}")


def open_image_file(path: Path, max_bytes: int = 20 * 1024 * 1024, max_pixels: int = 40_000_000,
                    shown: str | None = None) -> Image.Image:
    """Validate and decode an image file into RGB."""
    validate_image_file(path, max_bytes, max_pixels, shown)
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, Image.DecompressionBombError) as err:
        raise ImageFileError(f"{shown or path} could not be decoded ({err})") from err
