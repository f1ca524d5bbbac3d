"""gpt4tools: teach a language model to use tools by self-instruction (GPT4Tools)."""

from gpt4tools.compat.torchvision_ops import ensure_torchvision_importable as _ensure_tv

_ensure_tv()

__version__ = "0.1.0"
