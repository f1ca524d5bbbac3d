"""Convert cleaned instructions into GPT4Tools samples, the way the original conversion does.

A tool instruction becomes a *chain* of assistant steps about an image with a random path:
an optional prerequisite step (X->image tools: the detector runs first and its output path feeds the
generator), the tool step, and a final ``No`` step whose answer repeats the last observation. The prompt
shows 2 to ``max_tools`` tools (the right one, its prerequisite, random distractors from the split's
pool; shuffled) and an image-upload turn in the history (tools that take no image drop it half the time).

Each assistant step gives one sample: the instruction is the prompt plus every earlier step with its
observation (a *context sample* for steps after the first), the output is the step. Negative samples are
no-tool requests answered in the ``No`` format. Multi-turn merges put earlier instructions about the same
image into the history as ``Human:``/``AI:`` turns.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gpt4tools.catalog import CATALOG, ArgKind, OutputKind, ToolSpec, format_action_input
from gpt4tools.data.aliases import TOOL_ALIASES
from gpt4tools.data.io import caption_scene
from gpt4tools.data.parse import IMAGE_TOKEN, Instruction
from gpt4tools.prompt import (
    continue_after_observation,
    final_step,
    image_upload_turn,
    random_image_name,
    render_prompt,
    tool_step,
)

NONE_TOOL = "none"
"""``tool`` of samples whose expected output uses no tool (negatives and final ``No`` steps)."""

TEXT_OBSERVATIONS = {
    "Text2Box": "[output_from_detection_tool]",
    "ImageCaptioning": "[output_from_caption_tool]",
    "VisualQuestionAnswering": "[output_from_vqa_tool]",
    "TextDetection": "[output_from_ocr_tool]",
    "ObjectDetection": "[output_from_detection_tool]",
}


@dataclass(frozen=True, slots=True)
class Sample:
    """One converted sample with the metadata used for splits, reports and evaluation files."""

    instruction: str
    output: str
    tool: str  # catalog key of the tool called in ``output``, or NONE_TOOL
    chain_tool: str  # the chain's target tool key, or NONE_TOOL for negatives
    kind: str  # "tool", "final" or "negative"
    step: int
    image_id: str

    def record(self, sample_id: str | None = None) -> dict:
        """The JSON item: training form, plus ``id`` and ``tool`` for evaluation files."""
        item = {"instruction": self.instruction, "input": "", "output": self.output}
        if sample_id is not None:
            item = {"id": sample_id, **item, "tool": self.tool, "chain_tool": self.chain_tool, "kind": self.kind}
        return item


@dataclass
class ConvertOptions:
    """Conversion knobs (see ``conf/data/default.yaml``)."""

    min_tools: int = 2
    max_tools: int = 5
    context_samples: bool = True
    context_mode: str = "all"  # "all": one sample per assistant step; "random": one random step per chain
    no_image_caption_prob: float = 0.5
    final_step_prob: float = 1.0  # chance that a chain's closing "No" step becomes a sample ("all" mode)
    alias_prob: float = 0.0  # chance that a shown tool goes by another name in the sample (data.tool_aliases)
    boxes_prob: float = 1.0  # chance that an upload turn's description keeps the caption's object boxes


def observation_for(spec: ToolSpec, rng: random.Random) -> str:
    """What a tool answers in the data: an image path (bare or ``Result saved as``) or a text placeholder."""
    if spec.output is OutputKind.IMAGE:
        path = random_image_name(rng)
        return f"Result saved as {path}" if rng.random() < 0.5 else path
    return TEXT_OBSERVATIONS.get(spec.key, f"[output_from_{spec.key.lower()}_tool]")


def _observed_path(observation: str) -> str:
    return observation.rsplit(" ", 1)[-1]


def shown_tools(spec: ToolSpec, pool: Sequence[ToolSpec], rng: random.Random, opts: ConvertOptions) -> list[ToolSpec]:
    """The right tool, its prerequisite and random distractors from ``pool``: 2..max_tools, shuffled."""
    required = [spec] + ([CATALOG[spec.prerequisite]] if spec.prerequisite else [])
    keys = {t.key for t in required}
    others = [t for t in pool if t.key not in keys]
    n = max(len(required), rng.randint(opts.min_tools, opts.max_tools))
    tools = required + rng.sample(others, k=min(len(others), n - len(required)))
    rng.shuffle(tools)
    return tools


def upload_turn(image_path: str, caption: str, rng: random.Random, opts: ConvertOptions) -> str:
    """The image-upload turn; its description lists the caption's object boxes with chance ``opts.boxes_prob``."""
    if opts.boxes_prob < 1.0 and rng.random() >= opts.boxes_prob:
        caption = caption_scene(caption) or caption
    return image_upload_turn(image_path, caption)


def renamed(tools: Sequence[ToolSpec], rng: random.Random, opts: ConvertOptions) -> dict[str, str]:
    """Tool key -> the name it goes by in one sample: an alias with chance ``opts.alias_prob``, else its own."""
    names = {t.key: t.name for t in tools}
    if opts.alias_prob <= 0:
        return names
    for t in tools:
        if t.key in TOOL_ALIASES and rng.random() < opts.alias_prob:
            names[t.key] = rng.choice(TOOL_ALIASES[t.key])
    return names


def _as_named(tools: Sequence[ToolSpec], names: Mapping[str, str]) -> list[ToolSpec]:
    return [t if names[t.key] == t.name else dataclasses.replace(t, name=names[t.key]) for t in tools]


def chain_steps(inst: Instruction, image_path: str, rng: random.Random,
                names: Mapping[str, str] | None = None) -> list[tuple[str, str | None, str]]:
    """Assistant steps of one instruction: (step text, observation or None, tool key or NONE_TOOL).

    ``names`` maps tool keys to the names the sample's prompt shows (aliases); catalog names otherwise.
    """
    spec = CATALOG[inst.tool]
    names = names or {}
    steps = []
    source = image_path
    if spec.prerequisite:
        pre = CATALOG[spec.prerequisite]
        obs = observation_for(pre, rng)
        steps.append((tool_step(names.get(pre.key, pre.name), image_path), obs, pre.key))
        source = _observed_path(obs)
    args = [source if kind is ArgKind.IMAGE and a == IMAGE_TOKEN else a for kind, a in zip(spec.args, inst.args)]
    obs = observation_for(spec, rng)
    steps.append((tool_step(names.get(spec.key, spec.name), format_action_input(args)), obs, spec.key))
    steps.append((final_step(obs), None, NONE_TOOL))
    return steps


def chain_samples(inst: Instruction, caption: str | None, pool: Sequence[ToolSpec], rng: random.Random,
                  opts: ConvertOptions, history: str | None = None, image_path: str | None = None) -> list[Sample]:
    """Samples of one instruction (one per assistant step, or as ``opts`` choose)."""
    return _chain(inst, caption, pool, rng, opts, history, image_path)[0]


def _chain(inst: Instruction, caption: str | None, pool: Sequence[ToolSpec], rng: random.Random,
           opts: ConvertOptions, history: str | None, image_path: str | None) -> tuple[list[Sample], str]:
    spec = CATALOG[inst.tool]
    image_path = image_path or random_image_name(rng)
    if history is None:
        with_image = spec.needs_image or rng.random() >= opts.no_image_caption_prob
        history = upload_turn(image_path, caption, rng, opts) if (with_image and caption) else ""
    tools = shown_tools(spec, pool, rng, opts)
    names = renamed(tools, rng, opts)
    prompt = render_prompt(_as_named(tools, names), inst.instruction, history)
    steps = chain_steps(inst, image_path, rng, names)
    if not opts.context_samples:
        chosen = {0}
    elif opts.context_mode == "random":
        chosen = {rng.randrange(len(steps))}
    else:
        chosen = set(range(len(steps)))
        if opts.final_step_prob < 1.0 and rng.random() >= opts.final_step_prob:
            chosen.discard(len(steps) - 1)
    out = []
    last_obs = ""
    so_far = prompt
    for k, (text, obs, key) in enumerate(steps):
        if k in chosen:
            kind = "final" if key == NONE_TOOL else "tool"
            out.append(Sample(so_far, text, key, inst.tool, kind, k, inst.image_id))
        if obs is not None:
            so_far = continue_after_observation(so_far, text, obs)
            last_obs = obs
    return out, last_obs


def merged_samples(insts: Sequence[Instruction], caption: str, pool: Sequence[ToolSpec], rng: random.Random,
                   opts: ConvertOptions) -> list[Sample]:
    """A multi-turn conversation about one image: earlier instructions sit in the history as finished turns."""
    image_path = random_image_name(rng)
    history = upload_turn(image_path, caption, rng, opts)
    out: list[Sample] = []
    for inst in insts:
        samples, answer = _chain(inst, caption, pool, rng, opts, history, image_path)
        out.extend(samples)
        history += f"\nHuman: {inst.instruction}\nAI: {answer}"
    return out


def negative_sample(item: dict, captions: Sequence[str], pool: Sequence[ToolSpec], rng: random.Random,
                    opts: ConvertOptions) -> Sample:
    """A no-tool request answered in the ``No`` format, with a random image in the history half the time."""
    text = " ".join(p for p in (item["instruction"].strip(), item.get("input", "").strip()) if p)
    history = ""
    if captions and rng.random() < 0.5:
        history = upload_turn(random_image_name(rng), rng.choice(captions), rng, opts)
    spec = rng.choice(list(pool))
    tools = shown_tools(spec, pool, rng, opts)
    prompt = render_prompt(_as_named(tools, renamed(tools, rng, opts)), text, history)
    return Sample(prompt, final_step(item["output"].strip()), NONE_TOOL, NONE_TOOL, "negative", 0, "alpaca")
