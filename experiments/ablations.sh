#!/usr/bin/env bash
# The ablation sweeps of experiments/RESULTS.md at a small CPU budget per run (40 optimizer steps of 4 rows of
# prompt-shared samples; evaluation on the first 50 items of the default dataset's val_seen and test_unseen:
# eval.sets_from=default in the ablate_* presets), then their tables and figures:
#   bash experiments/ablations.sh [OUT]          (OUT: outputs/ablations; PY: the interpreter, default .venv/bin/python)
# Each preset changes one thing of the default recipe (conf/train.yaml); the baseline is the default itself.
set -euo pipefail
OUT=${1:-outputs/ablations}
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
BUDGET=(trainer.max_steps=40 batching.batch_size=4 training.validate_before=false checkpoint.adapter_every_n_steps=null
        eval.limit=50 eval.zero_shot=false)
$PY train.py -m 'experiment=ablate_baseline,ablate_no_negatives,ablate_no_context,ablate_multi_turn,ablate_all_final_steps,ablate_tools_subset' \
    "${BUDGET[@]}" hydra.sweep.dir="$OUT/data"
$PY train.py -m lora.r=4,8,16,32 "${BUDGET[@]}" hydra.sweep.dir="$OUT/lora_rank"
$PY -m gpt4tools.evaluation.figures ablation "$OUT/data" --out experiments/ablations.png
$PY -m gpt4tools.evaluation.figures ablation "$OUT/lora_rank" --out experiments/lora_rank.png
