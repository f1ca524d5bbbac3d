"""Evaluate a model's tool use on GPT4Tools eval sets (SR_t, SR_act, SR_args, SR, IoU).

    python evaluate.py adapter=outputs/train/<run>/adapter
    python evaluate.py -m adapter=a,b eval_sets=val_seen,test_unseen
"""

import hydra
from omegaconf import DictConfig

import gpt4tools  # noqa: F401
from gpt4tools.utils.errors import cli_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@cli_errors
def main(cfg: DictConfig) -> None:
    from gpt4tools.evaluation.run import run

    run(cfg)


if __name__ == "__main__":
    main()
