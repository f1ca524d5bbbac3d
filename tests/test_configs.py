"""Every config file in conf/ composes; the documented example composes as the README says."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gpt4tools.utils.config import CONFIG_DIR, compose

MAIN_CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
GROUP_FILES = sorted(
    (p.parent.relative_to(CONFIG_DIR).as_posix(), p.stem)
    for p in CONFIG_DIR.glob("*/**/*.yaml")
    if p.parent.name != "hydra"
)


def _main_for(group: str) -> str:
    for main in ("train", "evaluate", "infer", *MAIN_CONFIGS):
        defaults = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / f"{main}.yaml")).get("defaults", [])
        names = {next(iter(d)) if isinstance(d, dict) else d for d in defaults}
        if group in names:
            return main
    return "train"


@pytest.mark.parametrize("main", MAIN_CONFIGS)
def test_main_config_composes(main):
    cfg = compose(main, return_hydra_config=True)
    assert cfg.task_name
    assert "model" in cfg or main != "train"  # evaluate / infer / merge: null, the adapter names its base model


@pytest.mark.parametrize(("group", "name"), GROUP_FILES, ids=[f"{g}/{n}" for g, n in GROUP_FILES])
def test_group_file_composes(group, name, tmp_path):
    main = _main_for(group)
    cfg = compose(main, [f"{group}={name}"], output_dir=str(tmp_path))
    OmegaConf.resolve(cfg)  # every interpolation in the composed job resolves


def test_readme_example_vicuna13b_r16():
    cfg = compose("train", ["model=vicuna13b", "lora.r=16"])
    assert cfg.lora.r == 16
    assert cfg.model.hub_id == "lmsys/vicuna-13b-v1.5"
    assert cfg.model.chat_template == "vicuna_v1_1"
    assert OmegaConf.to_container(cfg.lora, resolve=True)["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]


def test_every_model_names_a_known_chat_template():
    from gpt4tools.prompt import CHAT_TEMPLATES

    for path in (CONFIG_DIR / "model").glob("*.yaml"):
        model = OmegaConf.load(path)
        assert model.chat_template in CHAT_TEMPLATES, path.name
        assert model.lora_target_modules, path.name


def test_every_yaml_starts_with_a_usage_comment():
    for path in CONFIG_DIR.rglob("*.yaml"):
        first = Path(path).read_text().lstrip().splitlines()[0]
        assert first.startswith("#"), f"{path.relative_to(CONFIG_DIR)} should start with a comment showing its use"
