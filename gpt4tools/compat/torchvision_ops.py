"""A pure-torch fallback for torchvision's compiled ``nms`` on machines where those ops cannot load.

PyPI has no CPU build of torchvision for recent torch releases; the CUDA build's compiled ops fail to
load on a CPU-only machine, and then ``import torchvision`` itself raises
``operator torchvision::nms does not exist`` - which also breaks transformers and Lightning, since
they import torchvision when it is installed. Defining the two ops that torchvision's import needs
(``nms`` and ``qnms``) with a torch implementation makes it import and makes ``torchvision.ops.nms``
and ``batched_nms`` (used by SAM's automatic masks and by detectors) work. Nothing is changed when the
compiled ops load, as on a CUDA machine.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)

_state: dict[str, object] = {"applied": None, "library": None}


def nms_reference(boxes, scores, iou_threshold: float):
    """Greedy non-maximum suppression; returns kept indices sorted by decreasing score."""
    import torch

    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    boxes = boxes.float()
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    # Pairwise IoU once, then a greedy pass over the sorted order.
    xx1 = torch.maximum(x1[:, None], x1[None, :])
    yy1 = torch.maximum(y1[:, None], y1[None, :])
    xx2 = torch.minimum(x2[:, None], x2[None, :])
    yy2 = torch.minimum(y2[:, None], y2[None, :])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    iou = inter / (areas[:, None] + areas[None, :] - inter).clamp(min=1e-12)
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    keep = []
    iou_sorted = iou[order][:, order] > iou_threshold
    for i in range(order.numel()):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou_sorted[i]
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def _compiled_ops_load() -> bool:
    import torch

    spec = importlib.util.find_spec("torchvision")
    for loc in spec.submodule_search_locations or []:
        for lib in Path(loc).glob("_C*.so"):
            try:
                torch.ops.load_library(str(lib))
                return True
            except (OSError, RuntimeError):
                return False
    return False


def ensure_torchvision_importable() -> bool:
    """Install the fallback when torchvision is present but its compiled ops cannot load.

    Must run before anything imports torchvision. Returns True when the fallback is in use.
    """
    if _state["applied"] is not None:
        return bool(_state["applied"])
    if importlib.util.find_spec("torchvision") is None:
        _state["applied"] = False
        return False
    if _compiled_ops_load():
        _state["applied"] = False
        return False
    import torch

    lib = torch.library.Library("torchvision", "DEF")  # kept alive in _state: dropping it unregisters the ops
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", nms_reference, "CPU")
    lib.impl("nms", nms_reference, "CUDA")
    _state["library"] = lib
    import torchvision.extension

    torchvision.extension._has_ops = lambda: True  # only nms is provided; other compiled ops still fail loudly
    _state["applied"] = True
    log.info("torchvision compiled ops unavailable: using the pure-torch nms fallback")
    return True
