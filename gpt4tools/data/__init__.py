"""Self-instruct data: teachers, cleaning, GPT4Tools formatting, augmentations, seen/unseen splits.

Public entry points: :func:`ensure_dataset` (training/evaluation call it with the composed config) and
:func:`load_samples` (validating loader of GPT4Tools-format files). ``python -m gpt4tools.data`` runs the
pipeline as a Hydra app.
"""

from gpt4tools.data.io import DataFormatError, load_alpaca, load_captions, load_samples
from gpt4tools.data.pipeline import ensure_dataset, generate_dataset, write_dataset

__all__ = ["DataFormatError", "ensure_dataset", "generate_dataset", "load_alpaca", "load_captions", "load_samples",
           "write_dataset"]
