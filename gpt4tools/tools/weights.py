"""Where a tool's weights come from: a local path, the Hugging Face cache, or (online) the hub."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gpt4tools.tools.errors import WeightsNotFound


@dataclass(frozen=True)
class WeightInfo:
    """One named weight entry of ``conf/tool_backends``: what it is and where to get it."""

    name: str
    what: str
    source: str  # where a user gets it (hub id, URL or package)
    kind: str = "hub"  # "hub" (a from_pretrained id or folder), "file" (one checkpoint file), "bundled"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def looks_local(ref: str) -> bool:
    """True for refs written as paths (absolute, ``./``, ``~``) rather than hub ids (``org/name``)."""
    return ref.startswith(("/", "./", "../", "~")) or os.sep + os.sep in ref or Path(ref).exists()


def hub_cache_dir(repo_id: str) -> str | None:
    """The local snapshot folder of a hub repository when it is in the Hugging Face cache, else None."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, malformed id, no network: all mean "not here"
        return None


def locate(ref: str | None, kind: str = "hub") -> tuple[str | None, str]:
    """Find a weight without loading it.

    Returns:
        (where, note): ``where`` is a local path, a cached snapshot folder, or the hub id when online and not
        cached (``from_pretrained`` may download it); None when it cannot be had here. ``note`` says which.
    """
    if ref in (None, ""):
        return None, "not configured"
    ref = str(ref)
    path = Path(ref).expanduser()
    if path.exists():
        return str(path), f"local {path}"
    if kind == "file" or looks_local(ref):
        return None, f"missing file {path}"
    cached = hub_cache_dir(ref)
    if cached:
        return cached, f"cached hub {ref}"
    if _offline():
        return None, f"hub {ref} not in the local cache (offline)"
    return ref, f"hub {ref} (will download)"


def require(tool_label: str, info: WeightInfo, ref: str | None) -> str:
    """Resolve a weight or raise one clear ``WeightsNotFound`` line naming the tool, the weight and the fix."""
    where, note = locate(ref, info.kind)
    if where is None:
        raise WeightsNotFound(
            f"{tool_label}: {info.what} not available ({note}); get it from {info.source} and set "
            f"tool_backends.weights.{info.name}=<local path or hub id>"
        )
    return where
