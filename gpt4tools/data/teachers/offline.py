"""The offline teacher: writes replies in a real teacher's raw form from the caption and the catalog, no model.

For each requested tool it picks a paraphrase template (``phrases.TEMPLATES``), fills it with objects,
attributes and the scene taken from the caption (or from small pools for replacements, styles and
descriptions), wraps imperatives in politeness frames and context sentences, and writes a numbered line
``N. "instruction", [Tool Name, example.jpg, arguments]``. With ``noise`` > 0 it also writes the
variants real teachers produce (numbering styles, quotes, tool-name variants, a chatter line, an
occasional broken line) so that the same parser and cleaner run on its output. Deterministic per seed.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from collections.abc import Sequence

from gpt4tools.catalog import CATALOG
from gpt4tools.data.io import caption_objects, caption_scene
from gpt4tools.data.teachers import phrases as P
from gpt4tools.data.teachers.base import Teacher, TeacherRequest

_COLOR_WORDS = {"red", "blue", "green", "yellow", "white", "black", "brown", "gray", "orange", "pink", "purple",
                "silver", "dark", "light", "beige", "striped", "wooden", "plastic", "metal", "small", "large", "old",
                "shiny", "tall", "spotted", "young", "smiling", "tired", "happy"}
_NAME_VARIANTS = {"Detect the Give Object": ["Detect the Given Object", "detect the give object"],
                  "Segment the given object": ["Segment the Given Object", "Segment given object"],
                  "Segment the Image": ["Segment Image"]}


def _bare(name: str) -> str:
    words = name.split()
    while len(words) > 1 and words[0].lower() in _COLOR_WORDS:
        words = words[1:]
    return " ".join(words)


def _plural(name: str) -> str:
    head, _, last = name.rpartition(" ")
    if last.endswith(("s", "x", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif last in ("person", "man", "woman", "child"):
        last = {"person": "people", "man": "men", "woman": "women", "child": "children"}[last]
    else:
        last += "s"
    return f"{head} {last}".strip()


def _with_article(name: str) -> str:
    if name.split()[0].lower() in ("a", "an", "the", "group", "family", "couple"):
        return name if name.split()[0].lower() in ("a", "an", "the") else f"a {name}"
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


class _Scene:
    """What the templates can say about one caption."""

    def __init__(self, caption: str):
        self.objects = caption_objects(caption)
        text = caption_scene(caption)
        first = re.split(r"[.,;]", text, maxsplit=1)[0].strip()
        first = re.sub(r"^(A|An|The)\s+", lambda m: m.group(1).lower() + " ", first)
        self.scene = first or "this scene"
        if not self.objects:  # a caption without boxes: take nouns after articles as objects
            nouns = re.findall(r"\b(?:a|an|the)\s+([a-z]+(?:\s[a-z]+)?)", text.lower())
            self.objects = [(n, [0, 0, 1, 1]) for n in nouns] or [("object", [0, 0, 1, 1])]


class OfflineTeacher(Teacher):
    """Template-based teacher for the embedded default and CI; see the module docstring."""

    name = "offline"

    def __init__(self, seed: int = 0, noise: float = 0.03, heldout_templates: float = 0.0):
        self.seed = seed
        self.noise = noise
        self.heldout_templates = heldout_templates

    def _rng(self, req: TeacherRequest) -> random.Random:
        return random.Random(zlib.crc32(f"{self.seed}|{req.image_id}|{req.sample}|{req.caption}".encode()))

    def complete(self, requests: Sequence[TeacherRequest]) -> list[str]:
        """One raw reply per request."""
        return [self.reply(req) for req in requests]

    def reply(self, req: TeacherRequest) -> str:
        """The raw reply to one request."""
        rng = self._rng(req)
        scene = _Scene(req.caption)
        lines = []
        if self.noise and rng.random() < self.noise * 3:
            lines.append(rng.choice(["Sure! Here are the instructions:", "Here is the list:",
                                     "Below are the generated visual instructions."]))
        n = 0
        for key in req.tools:
            for _ in range(req.per_tool):
                n += 1
                instruction, args = self.instruction(key, scene, rng, train=req.split == "train")
                lines.append(self._format_line(n, key, instruction, args, rng))
        return "\n".join(lines)

    def templates(self, key: str, train: bool) -> list:
        """The paraphrase templates of tool ``key``; for training without the held-out share (its last ones)."""
        pool = P.TEMPLATES[key]
        held = math.ceil(len(pool) * self.heldout_templates) if self.heldout_templates > 0 else 0
        return pool[: len(pool) - held] if train and held < len(pool) else pool

    def instruction(self, key: str, scene: _Scene, rng: random.Random, train: bool = False) -> tuple[str, list[str]]:
        """A request for tool ``key`` about ``scene`` and its argument list (image as ``example.jpg``)."""
        spec = CATALOG[key]
        text, arg_slots = rng.choice(self.templates(key, train))
        (obj, box), *rest = rng.sample(scene.objects, k=len(scene.objects))
        obj2 = rest[0][0] if rest else _bare(obj)
        subject = scene.objects[0][0]
        slots = {"obj": obj, "obj_bare": _bare(obj), "obj_plural": _plural(_bare(obj)), "obj2": obj2, "subject": subject, "scene": scene.scene,
                 "img": rng.choice(P.IMG_REFS), "new": rng.choice(P.REPLACEMENTS),
                 "box": "[" + ", ".join(str(v) for v in box) + "]", "where": rng.choice(P.WHERE),
                 "adj": rng.choice(P.ADJ), "fdesc": rng.choice(P.FREE_DESC)}
        for name in ("obj", "obj2", "subject"):
            slots[f"a_{name}"] = _with_article(slots[name])
        slots["style"] = rng.choice(P.STYLES)
        slots["desc"] = rng.choice(P.DESC_FORMS).format(**slots)
        slots["question"] = rng.choice(P.QUESTIONS).format(**slots)
        slots["Question"] = slots["question"][:1].upper() + slots["question"][1:]
        slots["edit"] = rng.choice(P.EDITS).format(**slots)
        body = text.format(**slots)
        if body.startswith("~"):
            body = rng.choice(P.FRAMES_IMPERATIVE).format(x=body[1:])
        context = rng.choice(P.CONTEXTS).format(**slots)
        if context.endswith(", ") and not re.match(r"I\b", body):
            body = body[:1].lower() + body[1:]
        else:
            body = body[:1].upper() + body[1:]
        body = context + body
        args = ["example.jpg"] if spec.needs_image else []
        args += [slots[s] for s in arg_slots]
        if key == "VisualQuestionAnswering":
            args[-1] = args[-1] + "?"
        return body, args

    def _format_line(self, n: int, key: str, instruction: str, args: list[str], rng: random.Random) -> str:
        name = CATALOG[key].name
        noisy = self.noise and rng.random() < self.noise * 4
        if noisy and name in _NAME_VARIANTS and rng.random() < 0.5:
            name = rng.choice(_NAME_VARIANTS[name])
        numbering = rng.choice([f"{n}. ", f"{n}) ", f"({n}) ", "- "]) if noisy else f"{n}. "
        quote = '"' if not noisy or rng.random() < 0.5 else ""
        call = ", ".join([name, *args])
        if noisy and rng.random() < 0.3:
            call = ", ".join(f'"{p}"' for p in [name, *args])
        if self.noise and rng.random() < self.noise / 2:  # a broken line, as teachers sometimes write
            kind = rng.randrange(4)
            if kind == 0:  # no bracketed call
                return f"{numbering}{quote}{instruction}{quote} - {name}"
            if kind == 1 and args and args[0] == "example.jpg":  # a made-up image name
                call = ", ".join([name, "image.png", *args[1:]])
            elif kind == 2 and len(args) > 1:  # an argument left out
                call = ", ".join([name, *args[:-1]])
            else:  # a tool that does not exist
                call = ", ".join([rng.choice(["Video Generation", "Image Upscaler", "Color Picker"]), *args])
        return f"{numbering}{quote}{instruction}{quote}, [{call}]"
