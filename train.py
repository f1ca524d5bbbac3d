"""Fine-tune a backbone with LoRA on GPT4Tools data.

    python train.py                                  # the embedded default (SmolLM2-135M, CPU)
    python train.py model=vicuna13b lora.r=16 trainer=deepspeed_zero2
"""

import hydra
from omegaconf import DictConfig

import gpt4tools  # noqa: F401  (applies library work-arounds before anything else imports)
from gpt4tools.utils.errors import cli_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@cli_errors
def main(cfg: DictConfig) -> None:
    from gpt4tools.training.checks import check_train_config

    check_train_config(cfg)  # bad values fail here in seconds, before the trainer is even imported
    from gpt4tools.training.run import run

    run(cfg)


if __name__ == "__main__":
    main()
