"""Every config file's ``_target_`` builds with ``hydra.utils.instantiate``.

Covered: each file of a group that carries ``_target_`` (teacher/, app/, logger/, lora/, trainer/, the Hydra
launchers, any group added later), the ``_target_`` nodes that the main configs and the ``@package _global_``
presets (experiment/, debug/, ...) set, composed as a run composes them. Offline and tiny: the local teacher
gets the random-init ``model=tiny``, paths point into a temporary folder; nodes that need CUDA or DeepSpeed
are skipped with the reason. A ``_partial_`` node must name parameters its target has.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from functools import partial
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gpt4tools.utils.config import CONFIG_DIR, compose

MAIN_CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
LAUNCHER_GROUPS = {"hydra/launcher"}
"""Groups whose nodes are ``_target_`` nodes by Hydra's definition (the target sits in the plugin's config)."""
EXTRA_OVERRIDES = {"teacher": ["model=tiny"]}
"""Per group: what keeps building it tiny (the local teacher loads the run's model)."""
TARGET_KEY = re.compile(r"^[\s-]*_target_\s*:", re.MULTILINE)


def _package(path: Path) -> str:
    """The file's ``@package`` (default: its group path, dotted)."""
    for line in path.read_text().splitlines():
        if line.startswith("# @package"):
            return line.split(maxsplit=2)[2].strip()
        if line.strip() and not line.startswith("#"):
            break
    return path.parent.relative_to(CONFIG_DIR).as_posix().replace("/", ".")


def _main_for(group: str) -> str:
    """The first main config whose defaults list names ``group`` (train when none does)."""
    for main in ("train", "infer", "evaluate", "generate_data", *MAIN_CONFIGS):
        defaults = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / f"{main}.yaml")).get("defaults", [])
        names = {next(iter(d)) if isinstance(d, dict) else d for d in defaults}
        if group in names:
            return main
    return "train"


def _touched(path: Path) -> set[str]:
    """Top-level keys a main or ``_global_`` file sets, including groups it overrides (``override /trainer``)."""
    raw = OmegaConf.to_container(OmegaConf.load(path)) or {}
    keys = {k for k in raw if k not in ("defaults", "hydra")}
    for item in raw.get("defaults") or []:
        name = next(iter(item)) if isinstance(item, dict) else ""
        if name.startswith("override "):
            keys.add(name.removeprefix("override ").strip().lstrip("/").split("/")[0])
    return keys


def _has_target(node) -> bool:
    """Whether a ``_target_`` sits at or under ``node``."""
    if isinstance(node, DictConfig):
        return "_target_" in node or any(_has_target(node._get_node(k)) for k in node)
    return False


def _component_keys(main: str) -> set[str]:
    """Top-level keys of the composed ``main`` that hold ``_target_`` nodes."""
    cfg = compose(main)
    return {k for k in cfg if _has_target(cfg._get_node(k))}


def _cases() -> list[tuple[str, str, tuple[str, ...]]]:
    """(file, main config, top-level keys to build) for every file with ``_target_`` nodes."""
    components = {main: _component_keys(main) for main in MAIN_CONFIGS}
    cases = []
    for main in MAIN_CONFIGS:
        keys = _touched(CONFIG_DIR / f"{main}.yaml") & components[main]
        if keys:
            cases.append((f"{main}.yaml", main, tuple(sorted(keys))))
    for directory in sorted({p.parent for p in CONFIG_DIR.rglob("*.yaml")} - {CONFIG_DIR}):
        group = directory.relative_to(CONFIG_DIR).as_posix()
        files = sorted(directory.glob("*.yaml"))
        carries = group in LAUNCHER_GROUPS or any(TARGET_KEY.search(f.read_text()) for f in files)
        for f in files:
            package = _package(f)
            if package == "_global_":  # the nodes it sets that are, or it makes, `_target_` nodes
                raw = OmegaConf.load(f)
                own = {k for k in raw if k != "defaults" and _has_target(raw._get_node(k))}
                keys = tuple(sorted(_touched(f) & (components[_main_for(group)] | own)))
                if not keys:
                    continue
            elif carries:
                keys = (package,)
            else:
                continue
            cases.append((f.relative_to(CONFIG_DIR).as_posix(), _main_for(group), keys))
    return cases


CASES = _cases()


def _components(node, key: str) -> list[tuple[str, DictConfig]]:
    """The ``_target_`` nodes at or under ``node`` (a node with a target is one component)."""
    if not isinstance(node, DictConfig):
        return []
    if "_target_" in node:
        return [(key, node)]
    return [c for k in node for c in _components(node._get_node(k), f"{key}.{k}")]


def _cannot_build(node: DictConfig) -> str | None:
    """Why ``node`` cannot be built on this machine (None: it can)."""
    import torch

    if str(node.get("accelerator")) in ("gpu", "cuda") and not torch.cuda.is_available():
        return "needs a CUDA GPU"
    strategy = node.get("strategy")
    if isinstance(strategy, DictConfig) and "DeepSpeed" in str(strategy.get("_target_")):
        if importlib.util.find_spec("deepspeed") is None:
            return "needs deepspeed (pip install deepspeed)"
    return None


def _check_partial(built: partial, where: str) -> None:
    """A partial's bound arguments must be parameters of its target (instantiate does not check them)."""
    try:
        inspect.signature(built.func).bind_partial(*built.args, **built.keywords)
    except TypeError as exc:
        raise AssertionError(f"{where}: {built.func.__qualname__} does not take these arguments: {exc}") from None


@pytest.mark.parametrize(("file", "main", "keys"), CASES, ids=[c[0] for c in CASES])
def test_every_target_builds(file, main, keys, tmp_path):
    group = str(Path(file).parent.as_posix())
    overrides = [f"paths.output_dir={tmp_path}", f"paths.cache_dir={tmp_path}/cache",
                 f"paths.data_dir={tmp_path}/data", *EXTRA_OVERRIDES.get(group, [])]
    if group != ".":
        overrides.insert(0, f"{group}={Path(file).stem}")
    cfg = compose(main, overrides, return_hydra_config=any(k.split(".")[0] == "hydra" for k in keys))
    built, skipped = [], []
    for key in keys:
        node = OmegaConf.select(cfg, key)
        for where, component in _components(node, key):
            reason = _cannot_build(component)
            if reason:
                skipped.append(f"{where} ({component._target_}): {reason}")
                continue
            obj = instantiate(component)
            assert obj is not None, where
            if isinstance(obj, partial):
                _check_partial(obj, f"{file}: {where}")
            built.append(where)
    assert built or skipped, f"{file}: no _target_ node under {', '.join(keys)}"
    if skipped:
        pytest.skip(f"built {', '.join(built) or 'nothing'}; not built here: {'; '.join(skipped)}")


def test_cases_cover_every_group_with_targets():
    """The discovery finds the files the project builds from ``_target_`` (so none is silently left out)."""
    files = {c[0] for c in CASES}
    for expected in ("teacher/offline.yaml", "teacher/openai.yaml", "teacher/hf_local.yaml", "teacher/replay.yaml",
                     "app/cli.yaml", "app/chat.yaml", "app/web.yaml", "app/api.yaml", "logger/csv.yaml",
                     "logger/many.yaml", "logger/tensorboard.yaml", "logger/wandb.yaml", "lora/default.yaml",
                     "trainer/cpu.yaml", "trainer/ddp.yaml", "hydra/launcher/slurm.yaml", "train.yaml"):
        assert expected in files, expected


@pytest.mark.parametrize("app", sorted(p.stem for p in (CONFIG_DIR / "app").glob("*.yaml")))
def test_every_app_takes_the_agent_parts(app, tmp_path):
    """``infer.py`` calls the instantiated front end with one argument, the config's ``AgentParts``."""
    built = instantiate(compose("infer", [f"app={app}"], output_dir=str(tmp_path)).app)
    assert isinstance(built, partial), f"app/{app}.yaml needs _partial_: true"
    inspect.signature(built.func).bind(object(), *built.args, **built.keywords)
