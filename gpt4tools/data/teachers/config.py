"""The teacher from config: ``conf/teacher/*.yaml`` names its class in ``_target_`` and its settings are the
constructor's keyword arguments; ``build_teacher`` instantiates it (the offline teacher where a config has none).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gpt4tools.data.teachers.base import Teacher

DEFAULT_TEACHER = {"_target_": "gpt4tools.data.teachers.offline.OfflineTeacher", "noise": 0.03,
                   "heldout_templates": 0.0}
"""The teacher used when a config has no ``teacher`` node (training configs): ``conf/teacher/offline.yaml``."""

HASHED_AS = {"gpt4tools.data.teachers.offline.OfflineTeacher": "offline",
             "gpt4tools.data.teachers.openai_compat.OpenAITeacher": "openai",
             "gpt4tools.data.teachers.hf_local.HFTeacher": "hf_local",
             "gpt4tools.data.teachers.replay.ReplayTeacher": "replay"}
"""The shipped teachers' names in the dataset hash, as before they were built from ``_target_`` (so the
datasets generated before stay valid); any other class is hashed by its ``_target_``."""

_RUNTIME_KEYS = ("_convert_", "_partial_", "_recursive_", "concurrency", "progress", "cache_dir", "batch_size",
                 "connect_timeout", "breaker_threshold")


def teacher_node(cfg: DictConfig) -> DictConfig:
    """The ``teacher`` node of ``cfg``, ready for ``instantiate``.

    A config without one (``train.py``) gets the offline teacher seeded with ``cfg.seed``; a node without
    ``_target_`` (``+teacher.heldout_templates=0.3`` in ``train.py``) sets options of that offline teacher.

    Raises:
        ValueError: the node still chooses its teacher with ``kind:`` (replaced by ``_target_``).
    """
    node = cfg.get("teacher")
    if node is not None and "kind" in node:
        raise ValueError("teacher.kind is no longer read: choose a teacher with teacher=offline|openai|hf_local|replay "
                         "(+teacher=offline in train.py), or name its class in teacher._target_")
    if node is not None and "_target_" in node:
        return node
    options = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    return OmegaConf.create({**DEFAULT_TEACHER, "seed": int(cfg.get("seed", 0)), **options})


def build_teacher(cfg: DictConfig) -> Teacher:
    """Instantiate the teacher of ``cfg``; a ``cache_dir: null`` in its node means ``<paths.cache_dir>/teacher``.

    Raises:
        TypeError: the ``_target_`` built something that is not a ``Teacher``.
    """
    from hydra.utils import instantiate

    node = teacher_node(cfg)
    runtime = {}
    if "cache_dir" in node and node.cache_dir is None and cfg.get("paths") and cfg.paths.get("cache_dir"):
        runtime["cache_dir"] = str(Path(cfg.paths.cache_dir) / "teacher")
    teacher = instantiate(node, **runtime)
    if not isinstance(teacher, Teacher):
        raise TypeError(f"teacher._target_={node._target_} built a {type(teacher).__name__}, not a Teacher")
    return teacher


def teacher_settings(cfg: DictConfig) -> dict:
    """The teacher's settings that change the data, as the dataset hash takes them: no runtime knobs, the
    run's seed left to the hash itself, the replayed files' content rather than their paths."""
    teacher = OmegaConf.to_container(teacher_node(cfg), resolve=True)
    target = teacher.pop("_target_")
    teacher["kind"] = HASHED_AS.get(target, target)
    for key in _RUNTIME_KEYS:
        teacher.pop(key, None)
    if "model_cfg" in teacher:
        teacher["model"] = teacher.pop("model_cfg")
    if teacher.get("seed") == int(cfg.get("seed", 0)):
        teacher.pop("seed")
    if teacher["kind"] == "replay":
        teacher["digests"] = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in teacher.get("paths") or []]
    return teacher
