#!/usr/bin/env bash
# The ablation sweeps of experiments/RESULTS.md at a small CPU budget per run (40 steps x 4 rows of prompt-shared samples, evaluation on
# the first 50 items of the default dataset's val_seen and test_unseen: eval.sets_from=default in the ablate_* presets), then their
# tables and figures:
#   bash experiments/ablations.sh [OUT]          (OUT: outputs/ablations; PY: the interpreter, default .venv/bin/python)
set -euo pipefail
OUT=${1:-outputs/ablations}
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
# the presets build on cpu_default_eager (eager batches of 4 rows, a step-paced schedule, every closing step kept),
# the default the recorded sweep ran against; its row in the recorded table is labelled cpu_default
BUDGET=(trainer.max_steps=40 trainer.max_time=00:00:06:00 training.validate_before=false
        checkpoint.adapter_every_n_steps=null 'eval.overrides=["limit=50","label=tuned"]')
$PY train.py -m experiment=cpu_default_eager,ablate_no_negatives,ablate_no_context,ablate_multi_turn,ablate_half_final_steps,ablate_tools_subset \
    "${BUDGET[@]}" hydra.sweep.dir="$OUT/data"
$PY train.py -m experiment=cpu_default_eager lora.r=4,8,32 "${BUDGET[@]}" hydra.sweep.dir="$OUT/lora_rank"
$PY -m gpt4tools.evaluation.figures ablation "$OUT/data" --out experiments/ablations.png
$PY -m gpt4tools.evaluation.figures ablation "$OUT/lora_rank" --out experiments/lora_rank.png
