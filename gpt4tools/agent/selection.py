"""Which tools the prompt shows: a few, chosen by lexical relevance to the request.

Training showed 2 to 5 tools per prompt (the right one, its prerequisite, distractors), so a prompt
listing every loaded tool is out of distribution for a tuned model. :class:`ToolRanker` scores each
tool by a BM25-style sum over the request's words, matched fuzzily (rapidfuzz) against the words of
the tool's name and description, weighted by their rarity across the catalog; name words count double.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process

from gpt4tools.catalog import CATALOG, ToolSpec

_WORD_RE = re.compile(r"[a-z]+")
_STOPWORDS = frozenset(
    "a an the of to in on at for and or but is are be this that these those it its my me i you your we our "
    "with from by as can could would should will please some something object like want useful when only "
    "image picture photo input tool string representing comma separated two three given user description "
    "text path file png jpg do does make get new".split()
)
_BOILERPLATE_RE = re.compile(r"(receives image_path as input\.?|The input to this tool should be.*)$", re.S)
_NAME_WEIGHT = 2.0
_FUZZ_CUTOFF = 80.0


def words(text: str) -> list[str]:
    """Lower-case content words of ``text`` (stop words and one-letter tokens removed)."""
    return [w for w in _WORD_RE.findall(text.lower()) if len(w) > 1 and w not in _STOPWORDS]


def _tool_terms(spec: ToolSpec) -> dict[str, float]:
    """Weighted terms of one tool: name words x2, usage words (the argument boilerplate dropped) x1."""
    terms: dict[str, float] = {}
    for w in words(_BOILERPLATE_RE.sub("", spec.description)):
        terms[w] = max(terms.get(w, 0.0), 1.0)
    for w in words(spec.name):
        terms[w] = _NAME_WEIGHT
    return terms


class ToolRanker:
    """Ranks a set of tools by relevance to a request and picks the few to show.

    Args:
        tools: the specs that can be shown (the loaded tools).
        corpus: specs used for the rarity weights (the whole catalog, so scores do not depend on
            which tools happen to be loaded).
    """

    def __init__(self, tools: Sequence[ToolSpec], corpus: Iterable[ToolSpec] | None = None) -> None:
        self.tools = list(tools)
        corpus_terms = [_tool_terms(s) for s in (corpus if corpus is not None else CATALOG.values())]
        df = Counter(w for terms in corpus_terms for w in terms)
        n = len(corpus_terms)
        self._terms = {s.key: _tool_terms(s) for s in self.tools}
        vocab = sorted({w for terms in self._terms.values() for w in terms})
        self._vocab = vocab
        self._idf = {w: math.log(1.0 + (n - df.get(w, 0) + 0.5) / (df.get(w, 0) + 0.5)) for w in vocab}
        self._order = {s.key: i for i, s in enumerate(self.tools)}

    def _matches(self, request: str) -> dict[str, float]:
        """Vocabulary words matched by the request's words, with the best match strength (0..1)."""
        matched: dict[str, float] = {}
        for q in set(words(request)):
            for w, score, _ in process.extract(q, self._vocab, scorer=fuzz.ratio, score_cutoff=_FUZZ_CUTOFF,
                                               limit=None):
                matched[w] = max(matched.get(w, 0.0), score / 100.0)
            for w in self._vocab:  # "segment" ~ "segmentations": a shared stem of 5+ letters
                if len(q) >= 5 and len(w) >= 5 and (w.startswith(q) or q.startswith(w)):
                    matched[w] = max(matched.get(w, 0.0), 0.8)
        return matched

    def scores(self, request: str) -> dict[str, float]:
        """Relevance of every tool to ``request`` (key -> score; 0 when no word matches)."""
        matched = self._matches(request)
        return {
            key: sum(strength * self._idf[w] * terms[w] for w, strength in matched.items() if w in terms)
            for key, terms in self._terms.items()
        }

    def select(self, request: str, max_tools: int) -> list[ToolSpec]:
        """The ``max_tools`` most relevant tools, each X->image generator together with its detector.

        A generator whose prerequisite (e.g. the Canny detector for the Canny-conditioned generator)
        is available is only shown with that prerequisite, as in training; when the pair does not fit
        in the remaining room the generator is skipped. The result is in ranking order.
        """
        scores = self.scores(request)
        ranked = sorted(self.tools, key=lambda s: (-scores[s.key], self._order[s.key]))
        by_key = {s.key: s for s in self.tools}
        chosen: list[ToolSpec] = []
        for spec in ranked:
            if len(chosen) >= max_tools:
                break
            if spec in chosen:
                continue
            group = [spec]
            pre = by_key.get(spec.prerequisite) if spec.prerequisite else None
            if pre is not None and pre not in chosen:
                group.append(pre)
            if len(chosen) + len(group) <= max_tools:
                chosen.extend(group)
        return chosen
