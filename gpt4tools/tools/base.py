"""The tool base class: catalog spec, lazy per-device loading, argument parsing, workspace-checked I/O."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from gpt4tools.catalog import CATALOG, ArgKind, ArgumentError, ToolSpec, parse_action_input
from gpt4tools.tools.errors import BackendUnavailable, ToolArgumentError, ToolError, WeightsNotFound
from gpt4tools.tools.pool import DEFAULT_POOL, ModelPool
from gpt4tools.tools.weights import WeightInfo, locate, require
from gpt4tools.tools.workspace import Workspace

log = logging.getLogger(__name__)


class Tool:
    """One catalog tool with a real backend.

    Subclasses set ``key`` (the catalog key), ``backend`` (a short description of what runs), ``weight_infos``
    (the named weights of ``conf/tool_backends`` they need), and implement ``_load`` and ``run``. Models are
    loaded in ``load()`` - never in the constructor - through the shared ``ModelPool``, so tools can be
    listed and prompts built without any weight, and tools sharing a sub-model on one device load it once.
    """

    key: ClassVar[str] = ""
    backend: ClassVar[str] = ""
    weight_infos: ClassVar[tuple[WeightInfo, ...]] = ()

    def __init__(self, workspace: Workspace, device: str = "cpu", weights: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None, pool: ModelPool | None = None) -> None:
        self.spec: ToolSpec = CATALOG[self.key]
        self.workspace = workspace
        self.device = str(device)
        self.weights: dict[str, Any] = dict(weights or {})
        self.options: dict[str, Any] = dict(options or {})
        self.pool = pool if pool is not None else DEFAULT_POOL
        self._held: list[Hashable] = []
        self._loaded = False

    def __repr__(self) -> str:
        state = "loaded" if self._loaded else "not loaded"
        return f"<{type(self).__name__} {self.key!r} on {self.device}, {state}>"

    @property
    def label(self) -> str:
        """``Name (Key)`` for messages."""
        return f"{self.spec.name} ({self.key})"

    # ------------------------------------------------------------ weights and loading
    def weights_available(self) -> tuple[bool, str]:
        """Whether every weight this tool needs is available here (nothing is loaded), and which are which."""
        if not self.weight_infos:
            return True, "no weights needed"
        ok, notes = True, []
        for info, where, note in self.weight_status():
            ok = ok and where is not None and not note.endswith("(will download)")
            notes.append(f"{info.name}: {note}" + ("" if where else f" - get it from {info.source}"))
        return ok, "; ".join(notes)

    def weight_status(self) -> list[tuple[WeightInfo, str | None, str]]:
        """(info, where, note) per weight this tool needs; ``where`` is None when it is not here."""
        return [(info, *locate(self.weights.get(info.name), info.kind)) for info in self.weight_infos]

    def weight(self, name: str) -> str:
        """The local path (or downloadable hub id) of the named weight; ``WeightsNotFound`` when absent."""
        info = next(i for i in self.weight_infos if i.name == name)
        return require(self.label, info, self.weights.get(name))

    @property
    def is_loaded(self) -> bool:
        """True once ``load()`` has run (and ``unload()`` has not)."""
        return self._loaded

    def load(self) -> None:
        """Load the backend on ``self.device``; idempotent."""
        if self._loaded:
            return
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ToolError(f"{self.label}: device {self.device} requested but CUDA is not available here")
        try:
            self._load()
        except ImportError as err:
            self.unload()
            raise BackendUnavailable(f"{self.label}: backend package missing ({err}); "
                                     "install the tools extra: pip install -e '.[tools]'") from err
        except OSError as err:  # from_pretrained / torch.load: unreachable hub, corrupt or partial files
            self.unload()
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise WeightsNotFound(f"{self.label}: loading its weights failed ({first}); check "
                                  f"tool_backends.weights ({', '.join(i.name for i in self.weight_infos)})") from err
        except Exception:
            self.unload()
            raise
        self._loaded = True

    def _load(self) -> None:
        """Subclass hook: acquire models with ``shared``."""

    def unload(self) -> None:
        """Drop this tool's references to loaded models (shared ones stay while another tool holds them)."""
        for key in self._held:
            self.pool.release(key)
        self._held.clear()
        self._loaded = False

    def shared(self, parts: tuple, factory: Callable[[], Any]) -> Any:
        """A model from the pool keyed by ``parts`` + this tool's device, built with ``factory`` on first use."""
        key = (*parts, self.device)
        obj = self.pool.get(key, factory)
        self._held.append(key)
        return obj

    # ------------------------------------------------------------ calling
    def __call__(self, action_input: str) -> str:
        """Run the tool on an ``Action Input`` string and return the observation text.

        Arguments are split by the catalog schema, image paths are checked against the workspace and the
        image validated before any model is loaded.

        Raises:
            ToolError: a subclass saying what was wrong (arguments, path, image, weights).
        """
        try:
            args = parse_action_input(self.spec, action_input)
        except ArgumentError as err:
            raise ToolArgumentError(str(err)) from err
        for kind, arg in zip(self.spec.args, args):
            if kind is ArgKind.IMAGE:
                self.workspace.check_image_file(self.workspace.resolve(arg))
        self.load()
        observation = self.run(*args)
        log.info("%s(%s) -> %s", self.key, action_input, observation)
        return observation

    def run(self, *args: str) -> str:
        """Subclass hook: the arguments as parsed; returns the observation."""
        raise NotImplementedError

    # ------------------------------------------------------------ helpers
    def option(self, name: str, default: Any) -> Any:
        """A backend option from ``tool_backends.options`` (``None`` there means the default)."""
        value = self.options.get(name)
        return default if value is None else value

    def open_image(self, path_text: str) -> tuple[Path, Image.Image]:
        """Resolve and decode an input image inside the workspace."""
        return self.workspace.open_image(path_text)

    def save_image(self, image: Image.Image, source: Path | None) -> str:
        """Save an output image under a new name and return its workspace-relative path (the observation)."""
        path = self.workspace.new_image_path(self.key, source)
        image.save(path, "PNG")
        return self.workspace.relative(path)

    @property
    def torch_dtype(self):
        """float16 on CUDA and float32 on CPU, unless ``options.dtype`` says otherwise."""
        import torch

        name = self.option("dtype", "auto")
        if name == "auto":
            return torch.float16 if self.device.startswith("cuda") else torch.float32
        return getattr(torch, name)


_BOX = re.compile(r"-?\d+(?:\.\d+)?")


def parse_box(text: str, width: int, height: int) -> tuple[int, int, int, int]:
    """``[x1, y1, x2, y2]`` in pixels (or all in [0, 1] as fractions) -> a clamped integer box."""
    values = [float(v) for v in _BOX.findall(text)]
    if len(values) != 4:
        raise ToolArgumentError(f"expected a box [x1, y1, x2, y2], got {text!r}")
    if all(0.0 <= v <= 1.0 for v in values) and any(v != int(v) for v in values):
        values = [values[0] * width, values[1] * height, values[2] * width, values[3] * height]
    x1, y1, x2, y2 = (int(round(v)) for v in values)
    x1, x2 = sorted((max(0, min(width, x1)), max(0, min(width, x2))))
    y1, y2 = sorted((max(0, min(height, y1)), max(0, min(height, y2))))
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise ToolArgumentError(f"box {text} is empty inside the {width}x{height} image")
    return x1, y1, x2, y2
