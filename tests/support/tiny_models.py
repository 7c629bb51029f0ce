"""Tiny causal language models with their own tokenizer, built offline in seconds.

A tiny model is a randomly initialised Llama-architecture model (a few MB) with a byte-level BPE
tokenizer trained on local text, saved as an ordinary Hugging Face folder that lm-eval's ``hf``
adapter loads with ``--model_args pretrained=DIR``. With a short training run on the same text its
continuations stop being uniform noise, which makes it a useful root for model families whose
history is known (see :mod:`phylolm_harness.demo.relatives`).

Their training text is the deterministic synthetic corpus of
:mod:`phylolm_harness.demo.corpus`, so that everything can be built without any download.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from phylolm_harness.demo.corpus import CorpusKind, synthetic_corpus
from phylolm_harness.demo.relatives import (
    add_weight_noise,
    fine_tune,
    save_model_folder,
    seeded_torch,
    single_thread,
)
from phylolm_harness.errors import InputError

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
"""Special tokens of every tiny tokenizer: padding, begin and end of text, unknown."""


@dataclass(frozen=True)
class TinySpec:
    """Shape of a tiny Llama-architecture model.

    Attributes
    ----------
    vocab_size : int
        Size of the byte-level BPE vocabulary (at least 256 + the special tokens).
    hidden_size : int
        Width of the residual stream.
    intermediate_size : int
        Width of the MLP.
    num_layers : int
        Number of transformer blocks.
    num_heads : int
        Number of attention heads (must divide ``hidden_size``).
    max_positions : int
        Longest sequence the model accepts, in tokens.
    """

    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    max_positions: int = 256


def train_tokenizer(texts: Sequence[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on local text.

    Byte-level means any string can be encoded (no unknown characters), whatever text the model
    is later probed with.

    Parameters
    ----------
    texts : sequence of str
        Training text.
    vocab_size : int
        Target vocabulary size, special tokens included; at least 256 + 4.

    Returns
    -------
    PreTrainedTokenizerFast
        Tokenizer with ``<s>`` (bos), ``</s>`` (eos), ``<pad>`` and ``<unk>`` set, adding no
        special token when encoding.
    """
    min_size = 256 + len(SPECIAL_TOKENS)
    if vocab_size < min_size:
        raise InputError(f"vocab_size must be >= {min_size}, got {vocab_size}")
    if not texts:
        raise InputError("cannot train a tokenizer on an empty corpus")
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
    )


def init_tiny_model(
    tokenizer: PreTrainedTokenizerFast, spec: TinySpec = TinySpec(), seed: int = 0
) -> LlamaForCausalLM:
    """Build a randomly initialised tiny Llama model matching a tokenizer.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerFast
        Tokenizer whose vocabulary and special tokens the model uses.
    spec : TinySpec
        Model shape.
    seed : int
        Seed of the initialisation.

    Returns
    -------
    LlamaForCausalLM
        The model in float32, in evaluation mode.
    """
    if spec.hidden_size % spec.num_heads:
        raise InputError(
            f"hidden_size {spec.hidden_size} is not a multiple of num_heads {spec.num_heads}"
        )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    with seeded_torch(seed):
        model = LlamaForCausalLM(config)
    model.train(False)
    return model


def build_tiny_model(
    out_dir: Path,
    texts: Sequence[str],
    *,
    spec: TinySpec = TinySpec(),
    train_steps: int = 150,
    seed: int = 0,
) -> Path:
    """Train a tokenizer, initialise a tiny model, train it briefly and save both.

    Parameters
    ----------
    out_dir : Path
        Destination Hugging Face folder.
    texts : sequence of str
        Local text for the tokenizer and the short training run.
    spec : TinySpec
        Model shape.
    train_steps : int
        Optimisation steps on ``texts`` after initialisation (0 keeps the random weights).
    seed : int
        Seed of the initialisation and of the training batches.

    Returns
    -------
    Path
        ``out_dir``, loadable with ``AutoModelForCausalLM.from_pretrained``.
    """
    with single_thread():
        tokenizer = train_tokenizer(texts, spec.vocab_size)
        model = init_tiny_model(tokenizer, spec, seed)
        if train_steps > 0:
            model = fine_tune(model, tokenizer, texts, steps=train_steps, lr=3e-3, seed=seed)
        return save_model_folder(model, tokenizer, out_dir)


@dataclass(frozen=True)
class TinyFamily:
    """Tiny models whose family history is known.

    Attributes
    ----------
    models : dict of str to Path
        Leaf label -> Hugging Face folder.
    true_tree : str
        Unrooted true topology of the leaves, as Newick.
    history : dict of str to str
        Leaf label -> one-line description of how it was made.
    """

    models: dict[str, Path]
    true_tree: str
    history: dict[str, str]


FAMILY_TREE = "((code-1,code-2),(math-1,math-2),(prose-1,prose-2));"
"""True unrooted topology of :func:`build_tiny_family`'s leaves."""


def build_tiny_family(out_dir: Path, seed: int = 0) -> TinyFamily:
    """Build six tiny models with a known history: three clades of two.

    A root model is trained briefly on a mix of code-like, math-like and prose-like text. Three
    clade ancestors are fine-tuned from it, each on one style only. Each ancestor has two
    children: one with light weight noise, one with a further short fine-tune on its own style
    (new batches). Only the six children are saved, so the unrooted true tree is
    ``((code-1,code-2),(math-1,math-2),(prose-1,prose-2))`` with well separated clades.

    Parameters
    ----------
    out_dir : Path
        Folder that receives one Hugging Face folder per leaf (``out_dir / label``).
    seed : int
        Base seed of the corpora, initialisation, training batches and noise.

    Returns
    -------
    TinyFamily
        The leaf folders, the true tree and each leaf's history.
    """
    with single_thread():
        return _build_family(Path(out_dir), seed)


def _build_family(out_dir: Path, seed: int) -> TinyFamily:
    """Build the family of :func:`build_tiny_family` (see there)."""
    kinds: tuple[CorpusKind, ...] = ("code", "math", "prose")
    mix = [doc for i, kind in enumerate(kinds) for doc in synthetic_corpus(kind, 150, seed + i)]
    tokenizer = train_tokenizer(mix, TinySpec().vocab_size)
    root = fine_tune(
        init_tiny_model(tokenizer, TinySpec(), seed), tokenizer, mix, steps=150, lr=3e-3, seed=seed
    )
    models: dict[str, Path] = {}
    history: dict[str, str] = {}
    for i, kind in enumerate(kinds):
        corpus = synthetic_corpus(kind, 200, seed + 10 + i)
        ancestor = fine_tune(root, tokenizer, corpus, steps=60, lr=3e-3, seed=seed + 20 + i)
        noisy = add_weight_noise(ancestor, 0.05, seed=seed + 30 + i)
        tuned = fine_tune(ancestor, tokenizer, corpus, steps=10, lr=1e-3, seed=seed + 40 + i)
        for label, model, how in (
            (f"{kind}-1", noisy, f"root + 60 steps on {kind} text + 5% weight noise"),
            (f"{kind}-2", tuned, f"root + 60 steps on {kind} text + 10 more steps"),
        ):
            models[label] = save_model_folder(model, tokenizer, out_dir / label)
            history[label] = how
    return TinyFamily(models=models, true_tree=FAMILY_TREE, history=history)
