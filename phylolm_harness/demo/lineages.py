"""Nested fine-tuning lineages with a known history, grown from one model, and their alleles.

A lineage is a rooted tree of changes: every edge is its own short fine-tune (on code-like, maths
or prose text, with its own documents and seed), an int8 round-trip, or a merge (the weight
average of two models). Only the leaves are released, as in a model zoo where intermediate
checkpoints are not. The shapes here are the ones lineage recovery is judged on
(``benchmarks/bench_lineages.py``): balanced and caterpillar trees of depths 2 to 4, short and
long edges, siblings tuned on the same text and on different text (the hard case: cousins last
tuned on the same kind of text look alike), quantised and merged copies.

Models are grown depth first and held in memory only while a descendant still needs them; each
leaf's exact allele distributions are computed in process (the same expansion ``phylolm-hf``
runs inside ``lm_eval``), so a 16-leaf lineage costs one model load and no ``lm_eval`` start-up.
"""

from __future__ import annotations

import copy
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phylolm_harness.collect.frontier import ExpansionSettings
from phylolm_harness.core.observations import GeneObservation
from phylolm_harness.demo.corpus import CorpusKind, synthetic_corpus
from phylolm_harness.demo.relatives import fine_tune, int8_round_trip
from phylolm_harness.errors import InputError
from phylolm_harness.genomes.genome import Gene, Genome

__all__ = [
    "Edge",
    "Lineage",
    "TextPlan",
    "balanced_lineage",
    "caterpillar_lineage",
    "exact_observations",
    "grow_lineage",
    "score_passages",
    "write_passages",
]

TextPlan = Literal["alternate", "same", "random"]
"""How the text of sibling edges is chosen: ``alternate`` gives the two children of every split
different kinds in the same order (so cousins share the kind of their last fine-tune), ``same``
gives siblings one kind, ``random`` draws each edge's kind."""

_KINDS: tuple[CorpusKind, ...] = ("code", "prose", "math")

FINE_TUNE_LAYERS = 4
"""Each fine-tune trains the last this many transformer blocks (all of a smaller model's), as the
demo's do."""

FINE_TUNE_LR = 1e-4
"""Learning rate of every fine-tune."""


@dataclass(frozen=True)
class Edge:
    """How one model of a lineage is made from its parent.

    Attributes
    ----------
    child, parent : str
        Labels; the root's parent is ``""``.
    change : {"root", "fine-tune", "int8", "merge"}
        What the edge does; ``merge`` averages the parent's weights with ``other``'s.
    kind : str
        Text of a fine-tune (``code``, ``prose`` or ``math``); empty otherwise.
    steps : int
        Optimisation steps of a fine-tune (batches of 2 windows of 32 tokens).
    lr : float
        Learning rate of a fine-tune.
    seed : int
        Seed of the fine-tune's documents and batches.
    other : str
        The second parent of a merge.
    """

    child: str
    parent: str
    change: Literal["root", "fine-tune", "int8", "merge"]
    kind: str = ""
    steps: int = 0
    seed: int = 0
    other: str = ""
    lr: float = FINE_TUNE_LR


@dataclass(frozen=True)
class Lineage:
    """A lineage to grow: its edges (parents first), released leaves and true tree.

    Attributes
    ----------
    name : str
        Short name (used in file names).
    edges : tuple of Edge
        Every model, parents before children; the first is the root.
    leaves : tuple of str
        The models that are released and collected.
    true_tree : str
        The true tree of the leaves as Newick (unrooted comparisons ignore the root).
    """

    name: str
    edges: tuple[Edge, ...]
    leaves: tuple[str, ...]
    true_tree: str


class _Builder:
    """Collects edges while a shape is laid out, with a seeded choice of texts."""

    def __init__(self, seed: int, plan: TextPlan, lr: float) -> None:
        self.lr = lr
        self.rng = np.random.default_rng(seed)
        self.plan = plan
        self.edges = [Edge("root", "", "root")]
        self.leaves: list[str] = []
        self.next_seed = seed * 1000

    def kinds(self, n: int) -> list[str]:
        """Kinds of the ``n`` children of one split."""
        if self.plan == "alternate":
            return [_KINDS[i % 2] for i in range(n)]
        if self.plan == "same":
            return [str(self.rng.choice(_KINDS))] * n
        return [str(k) for k in self.rng.choice(_KINDS, size=n)]

    def tune(self, child: str, parent: str, kind: str, steps: int) -> None:
        self.next_seed += 1
        self.edges.append(Edge(child, parent, "fine-tune", kind, steps, self.next_seed, lr=self.lr))


def balanced_lineage(
    name: str,
    depth: int,
    *,
    arity: int = 2,
    steps: int = 8,
    plan: TextPlan = "alternate",
    seed: int = 0,
    lr: float = FINE_TUNE_LR,
    copies: int = 0,
    merges: int = 0,
) -> Lineage:
    """Lay out a balanced lineage: each model has ``arity`` fine-tuned children to ``depth``.

    Parameters
    ----------
    name : str
        Name of the lineage.
    depth : int
        Fine-tunes from the root to each leaf (1 to 6).
    arity : int
        Children of every internal model (2 to 4).
    steps : int
        Steps of every fine-tune (short edges: 4, long: 16).
    plan : {"alternate", "same", "random"}
        How sibling texts are chosen (:data:`TextPlan`).
    seed : int
        Seed of the text choices and of every fine-tune.
    lr : float
        Learning rate of every fine-tune.
    copies : int
        Leaves (the first ones) that also get an int8 round-trip copy, released beside them.
    merges : int
        Pairs of sister leaves (from the last ones) whose weight average is also released.

    Returns
    -------
    Lineage
    """
    if not 1 <= depth <= 6 or not 2 <= arity <= 4:
        raise InputError(f"depth must be 1..6 and arity 2..4, got {depth} and {arity}")
    build = _Builder(seed, plan, lr)

    def grow(parent: str, level: int) -> str:
        if level == depth:
            build.leaves.append(parent)
            return parent
        subtrees = []
        for i, kind in enumerate(build.kinds(arity)):
            child = f"{parent}.{i}" if parent != "root" else f"m{i}"
            build.tune(child, parent, kind, steps)
            subtrees.append(grow(child, level + 1))
        return "(" + ",".join(subtrees) + ")"

    newick = grow("root", 0)
    return _with_copies(name, build, newick, copies, merges, arity)


def caterpillar_lineage(
    name: str,
    n_leaves: int,
    *,
    steps: int = 8,
    plan: TextPlan = "alternate",
    seed: int = 0,
    lr: float = FINE_TUNE_LR,
) -> Lineage:
    """Lay out a caterpillar lineage: a chain of fine-tunes, each releasing one fine-tuned leaf.

    The chain ``root -> c1 -> c2 -> ...`` is never released; ``c_i`` gets a leaf ``l_i`` by one
    more fine-tune, and the last chain model is itself released, so the true tree is
    ``(l1,(l2,(l3,...(l_{n-1},c_{n-1}))))``.

    Parameters
    ----------
    name : str
        Name of the lineage.
    n_leaves : int
        Released models (3 to 64).
    steps : int
        Steps of every fine-tune.
    plan : {"alternate", "same", "random"}
        How the texts of a chain step and its leaf are chosen (:data:`TextPlan`).
    seed : int
        Seed of the text choices and of every fine-tune.
    lr : float
        Learning rate of every fine-tune.

    Returns
    -------
    Lineage
    """
    if not 3 <= n_leaves <= 64:
        raise InputError(f"n_leaves must be 3..64, got {n_leaves}")
    build = _Builder(seed, plan, lr)
    parent = "root"
    for i in range(1, n_leaves):
        chain_kind, leaf_kind = build.kinds(2)
        chain = f"c{i}"
        build.tune(chain, parent, chain_kind, steps)
        build.tune(f"l{i}", chain, leaf_kind, steps)
        build.leaves.append(f"l{i}")
        parent = chain
    build.leaves.append(parent)
    newick = parent
    for i in range(n_leaves - 1, 0, -1):
        newick = f"(l{i},{newick})"
    return Lineage(name, tuple(build.edges), tuple(build.leaves), newick + ";")


def _with_copies(
    name: str, build: _Builder, newick: str, copies: int, merges: int, arity: int
) -> Lineage:
    """Add int8 copies and sister merges to a laid-out lineage and its true tree."""
    leaves = list(build.leaves)
    if copies + 2 * merges > len(leaves):
        raise InputError(f"{copies} copies and {merges} merges need more than {len(leaves)} leaves")
    for leaf in leaves[:copies]:
        build.edges.append(Edge(f"{leaf}-int8", leaf, "int8"))
        build.leaves.append(f"{leaf}-int8")
        newick = newick.replace(f"{leaf},", f"({leaf},{leaf}-int8),", 1).replace(
            f"{leaf})", f"({leaf},{leaf}-int8))", 1
        )
    for k in range(merges):
        first, second = leaves[-1 - arity * k], leaves[-arity * (k + 1)]
        merged = f"{second}+{first.rsplit('.', 1)[-1]}"
        build.edges.append(Edge(merged, second, "merge", other=first))
        build.leaves.append(merged)
        # the merge sits between its parents: the three of them form one clade
        newick = newick.replace(f"{first})", f"{first},{merged})", 1)
    return Lineage(name, tuple(build.edges), tuple(build.leaves), newick + ";")


def _merge(first: PreTrainedModel, second: PreTrainedModel) -> PreTrainedModel:
    """Return the weight average of two models of one architecture."""
    child = copy.deepcopy(first)
    with torch.no_grad():
        for mine, theirs in zip(child.parameters(), second.parameters(), strict=True):
            mine.mul_(0.5).add_(theirs, alpha=0.5)
    return child


def grow_lineage(
    lineage: Lineage,
    root: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    collect: Callable[[str, PreTrainedModel], None],
) -> None:
    """Make every model of a lineage from ``root`` and hand each released one to ``collect``.

    Models are made in edge order and dropped as soon as no later edge needs them, so memory
    holds about one model per level of the lineage.

    Parameters
    ----------
    lineage : Lineage
        What to grow.
    root : PreTrainedModel
        The model at the root (not modified; released only if it is a leaf).
    tokenizer : PreTrainedTokenizerBase
        Its tokenizer (for the fine-tunes' text).
    collect : callable
        ``collect(label, model)`` for every leaf, in edge order.
    """
    needed_until = _last_uses(lineage.edges)
    leaves = set(lineage.leaves)
    models: dict[str, PreTrainedModel] = {}
    for index, edge in enumerate(lineage.edges):
        models[edge.child] = _make(edge, root, models, tokenizer)
        if edge.child in leaves:
            collect(edge.child, models[edge.child])
        for label in [m for m in models if needed_until.get(m, -1) <= index]:
            del models[label]
        gc.collect()


def _make(
    edge: Edge,
    root: PreTrainedModel,
    models: dict[str, PreTrainedModel],
    tokenizer: PreTrainedTokenizerBase,
) -> PreTrainedModel:
    if edge.change == "root":
        return root
    parent = models[edge.parent]
    if edge.change == "int8":
        return int8_round_trip(parent)
    if edge.change == "merge":
        return _merge(parent, models[edge.other])
    kind = cast(CorpusKind, edge.kind)  # one of _KINDS: the layouts draw from them only
    texts = synthetic_corpus(kind, 64, seed=edge.seed, vocabulary=edge.seed)
    layers = min(FINE_TUNE_LAYERS, int(getattr(parent.config, "num_hidden_layers", 1)))
    return fine_tune(
        parent, tokenizer, texts, steps=edge.steps, lr=edge.lr, batch_size=2, seq_len=32,
        seed=edge.seed, last_layers=layers,
    )  # fmt: skip


def _last_uses(edges: Sequence[Edge]) -> dict[str, int]:
    """Index of the last edge that reads each model (as a parent or merge partner)."""
    last: dict[str, int] = {}
    for index, edge in enumerate(edges):
        for used in (edge.parent, edge.other):
            if used:
                last[used] = index
    return last


def exact_observations(
    label: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    genes: Sequence[tuple[Genome, Gene]],
    settings: ExpansionSettings,
) -> list[GeneObservation]:
    """Exact allele distributions of one model, as ``phylolm-hf`` computes them in ``lm_eval``.

    Genes are tokenised without special tokens and decoded skipping them, and the draws of the
    pruned mass are keyed by the model's weights (:func:`~phylolm_harness.collect.models.hf.
    weights_key`), as there. Genes on which nothing settled above the pruning (all the mass in
    the tail, with ``tail_samples`` 0) are left out: the model was not observed on them.

    Parameters
    ----------
    label : str
        The model's label in the observations.
    model : PreTrainedModel
        A causal LM in evaluation mode.
    tokenizer : PreTrainedTokenizerBase
        Its tokenizer.
    genes : sequence of (Genome, Gene)
        The genes, each with its genome.
    settings : ExpansionSettings
        Expansion settings (those of the exact task's YAML by default there).

    Returns
    -------
    list of GeneObservation
    """
    from phylolm_harness.collect.models.hf import eos_token_ids, exact_alleles_hf, weights_key

    key = weights_key(model)
    found, _ = exact_alleles_hf(
        model,
        [tokenizer(gene.text, add_special_tokens=False)["input_ids"] for _, gene in genes],
        lambda ids: str(tokenizer.decode(list(ids), skip_special_tokens=True)),
        settings,
        eos_token_ids(model, tokenizer),
        pad_id=int(tokenizer.pad_token_id or 0),
        streams=[f"{key}\n{gene.text}" for _, gene in genes],
    )
    return [
        GeneObservation(
            label, genome.name, genome.fingerprint, gene.id, d.alleles, None, d.tail, draws=d.draws
        )
        for (genome, gene), d in zip(genes, found, strict=True)
        if d.alleles
    ]


def write_passages(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, seed: int
) -> list[str]:
    """Sample in process what ``phylolm_passages_write`` has one model write (seeded).

    Each of :data:`~phylolm_harness.collect.passages.PROMPTS` is continued
    :data:`~phylolm_harness.collect.passages.SAMPLES_PER_PROMPT` times by
    :data:`~phylolm_harness.collect.passages.MAX_PASSAGE_TOKENS` tokens sampled at temperature 1.
    """
    from phylolm_harness.collect.passages import MAX_PASSAGE_TOKENS, PROMPTS, SAMPLES_PER_PROMPT

    written = []
    for k, prompt in enumerate(PROMPTS):
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        torch.manual_seed(seed * 1000 + k)
        with torch.no_grad():
            out = model.generate(  # type: ignore[operator]
                ids.repeat(SAMPLES_PER_PROMPT, 1),
                attention_mask=torch.ones_like(ids).repeat(SAMPLES_PER_PROMPT, 1),
                do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                max_new_tokens=MAX_PASSAGE_TOKENS, pad_token_id=tokenizer.eos_token_id,
            )  # fmt: skip
        written += [
            str(tokenizer.decode(row[ids.shape[1] :], skip_special_tokens=True)) for row in out
        ]
    return written


def score_passages(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]
) -> NDArray[np.float64]:
    """Total log-likelihood of each text, as ``loglikelihood_rolling`` computes it (after EOS)."""
    eos = int(tokenizer.eos_token_id)
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    scores = np.zeros(len(texts))
    for start in range(0, len(encoded), 16):
        batch = encoded[start : start + 16]
        width = max(len(ids) for ids in batch) + 1
        ids = torch.tensor([[eos, *row] + [eos] * (width - 1 - len(row)) for row in batch])
        mask = torch.tensor([[1] * (len(row) + 1) + [0] * (width - 1 - len(row)) for row in batch])
        with torch.no_grad():
            logits = model(ids, attention_mask=mask).logits[:, :-1].float()
        picked = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
        scores[start : start + len(batch)] = (picked * mask[:, 1:]).sum(1).double().numpy()
    return scores
