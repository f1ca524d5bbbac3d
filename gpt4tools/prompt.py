"""The one prompt module: GPT4Tools prompt text, ReAct steps as written, and chat templates.

Data generation, training, evaluation and the agent all build prompts through here; steps are read back
by the one parser, :mod:`gpt4tools.react`.
The wording follows the original GPT4Tools release byte for byte so official data files and
released adapters see the text they were trained on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gpt4tools.catalog import ToolSpec
from gpt4tools.react import OBSERVATION_PREFIX, THOUGHT_PREFIX

PROMPT_TEMPLATE = """GPT4Tools can handle various text and visual tasks, such as answering questions and providing in-depth explanations and discussions. It generates human-like text and uses tools to indirectly understand images. When referring to images, GPT4Tools follows strict file name rules. To complete visual tasks, GPT4Tools uses tools and stays loyal to observation outputs. Users can provide new images to GPT4Tools with a description, but tools must be used for subsequent tasks.
TOOLS:
------

GPT4Tools has access to the following tools:

{tool_descriptions}

To use a tool, please use the following format:

```
Thought: Do I need to use a tool? Yes
Action: the action to take, should be one of [{tool_names}]
Action Input: the input to the action
Observation: the result of the action
```

When you have a response to say to the Human, or if you do not need to use a tool, you MUST use the format:

```
Thought: Do I need to use a tool? No
AI: [your response here]
```

Follow file name rules and do not fake non-existent file names. Remember to provide the image file name loyally from the last tool observation.

Previous conversation:

{chat_history}

New input: {input}
GPT4Tools needs to use tools to observe images, not directly imagine them. Thoughts and observations in the conversation are only visible to GPT4Tools. When answering human questions, repeat important information. Let's think step by step.
"""

IMAGE_UPLOAD_TEMPLATE = (
    "Human: Provide an image named {image_path}. Description: {caption} Understand the image using tools.\n"
    "AI: Received."
)
_IMAGE_DIRS = ("image", "images", "examples", "cache", None)


def render_tools(tools: Sequence[ToolSpec]) -> tuple[str, str]:
    """The ``TOOLS:`` block lines and the comma-separated name list for the prompt."""
    return "\n".join(t.prompt_line() for t in tools), ", ".join(t.name for t in tools)


# the template's own "should be one of [{tool_names}]" line, with the names captured
_TOOL_NAMES_RE = re.compile(re.escape(next(line for line in PROMPT_TEMPLATE.splitlines() if "{tool_names}" in line))
                            .replace(re.escape("{tool_names}"), r"([^\]\n]*)"))


def listed_tool_names(prompt: str) -> list[str]:
    """The tool names a rendered prompt offers (its ``should be one of [...]`` list; empty when it has none)."""
    matches = _TOOL_NAMES_RE.findall(prompt)
    return [name.strip() for name in matches[-1].split(", ") if name.strip()] if matches else []


def image_upload_turn(image_path: str, caption: str) -> str:
    """The history turn that introduces an uploaded image."""
    return IMAGE_UPLOAD_TEMPLATE.format(image_path=image_path, caption=caption)


def render_prompt(tools: Sequence[ToolSpec], new_input: str, chat_history: str = "") -> str:
    """The full GPT4Tools instruction prompt for ``new_input`` with the given tools shown."""
    descriptions, names = render_tools(tools)
    return PROMPT_TEMPLATE.format(
        tool_descriptions=descriptions, tool_names=names, chat_history=chat_history, input=new_input
    )


def tool_step(tool_name: str, action_input: str) -> str:
    """An assistant step that calls a tool (ends where the observation will go)."""
    return f"{THOUGHT_PREFIX} Yes\nAction: {tool_name}\nAction Input: {action_input}\n{OBSERVATION_PREFIX}\n"


def final_step(response: str) -> str:
    """An assistant step that answers without a tool."""
    return f"{THOUGHT_PREFIX} No\nAI: {response}\n"


def observation_turn(result: str) -> str:
    """The text appended after a tool step's ``Observation:`` when the tool has answered."""
    return f"{OBSERVATION_PREFIX} {result}\n"


def continue_after_observation(prompt_so_far: str, step: str, result: str) -> str:
    """Append a tool step and its observation to an instruction, as the original context samples do."""
    if step.endswith(OBSERVATION_PREFIX + "\n"):
        step = step[: -len(OBSERVATION_PREFIX + "\n")]
    return prompt_so_far + step + observation_turn(result)


def random_image_name(rng: random.Random, num_chars: int = 8) -> str:
    """A random image path in the original's style: ``[image/|images/|examples/|cache/]abcdefgh.png``."""
    folder = rng.choice(_IMAGE_DIRS)
    name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(num_chars)) + ".png"
    return f"{folder}/{name}" if folder else name


# ---------------------------------------------------------------------------------------------------------
# Chat templates: how a backbone sees (instruction, output).


@dataclass(frozen=True)
class ChatTemplate:
    """Wraps an instruction and a target the way a backbone was chat-tuned.

    ``prompt_format`` holds ``{system}`` and ``{instruction}``; the target is ``target_prefix + output``
    followed by the end-of-turn text (``end``) or, when ``end`` is None, the tokenizer's EOS token.
    """

    name: str
    prompt_format: str
    target_prefix: str = ""
    end: str | None = None
    system: str = ""
    stop: tuple[str, ...] = field(default=())  # the end of turn as text, where generation stops (gpt4tools.stops)

    def render_prompt(self, instruction: str, input_text: str = "") -> str:
        """Model input up to where the assistant starts writing."""
        if input_text:
            instruction = f"{instruction}\n{input_text}"
        return self.prompt_format.format(system=self.system, instruction=instruction)

    def render_target(self, output: str, eos_token: str | None) -> str:
        """The assistant text the loss is computed on, end marker included."""
        end = self.end if self.end is not None else (eos_token or "")
        return f"{self.target_prefix}{output}{end}"


CHAT_TEMPLATES: dict[str, ChatTemplate] = {
    # GPT4Tools' own Vicuna v1.1 variant: empty system, no separator, "</s>" after the answer.
    "vicuna_v1_1": ChatTemplate("vicuna_v1_1", "USER: {instruction}ASSISTANT:", target_prefix=" ", end="</s>"),
    # The same wording for base models whose tokenizer ends text with its own EOS token (e.g. Gemma's <eos>).
    "vicuna_v1_1_eos": ChatTemplate("vicuna_v1_1_eos", "USER: {instruction}ASSISTANT:", target_prefix=" "),
    "chatml": ChatTemplate(
        "chatml",
        "<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n",
        end="<|im_end|>",
        stop=("<|im_end|>",),
    ),
    "chatml_system": ChatTemplate(
        "chatml_system",
        "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n",
        end="<|im_end|>",
        system="You are a helpful AI assistant.",
        stop=("<|im_end|>",),
    ),
    "raw": ChatTemplate("raw", "{instruction}"),
}


def get_chat_template(name: str | ChatTemplate) -> ChatTemplate:
    """A chat template by name (or the template itself)."""
    if isinstance(name, ChatTemplate):
        return name
    try:
        return CHAT_TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown chat template {name!r}; choose one of {', '.join(CHAT_TEMPLATES)}") from None


@dataclass
class EncodedSample:
    """Token ids of one sample with its loss mask (-100 on prompt tokens)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def num_target_tokens(self) -> int:
        return sum(1 for t in self.labels if t != -100)


IGNORE_INDEX = -100


def split_sample(template: ChatTemplate | str, instruction: str, output: str, input_text: str = "",
                 eos_token: str | None = None) -> tuple[str, str]:
    """Render a GPT4Tools sample as (prompt text, target text) through a chat template."""
    template = get_chat_template(template)
    return template.render_prompt(instruction, input_text), template.render_target(output, eos_token)


def encode_sample(tokenizer, template: ChatTemplate | str, instruction: str, output: str, input_text: str = "",
                  max_length: int | None = None) -> EncodedSample:
    """Tokenize a sample for training: prompt tokens carry label -100, every target token (end included) does not.

    Prompt and target are tokenized separately and concatenated, so the boundary is exact for any
    tokenizer. A prompt too long for ``max_length`` is cut from the left (the instruction's start
    holds the least specific text); the target is never cut.
    """
    prompt, target = split_sample(template, instruction, output, input_text, tokenizer.eos_token)
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    target_ids = list(tokenizer(target, add_special_tokens=False)["input_ids"])
    if getattr(tokenizer, "eos_token_id", None) is not None and get_chat_template(template).end is None:
        if not target_ids or target_ids[-1] != tokenizer.eos_token_id:
            target_ids = [*target_ids, tokenizer.eos_token_id]
    if max_length is not None and len(prompt_ids) + len(target_ids) > max_length:
        keep = max_length - len(target_ids)
        if keep <= 0:
            raise ValueError(f"target alone has {len(target_ids)} tokens, more than max_length={max_length}")
        prompt_ids = prompt_ids[-keep:]
    return EncodedSample(prompt_ids + target_ids, [IGNORE_INDEX] * len(prompt_ids) + target_ids)
