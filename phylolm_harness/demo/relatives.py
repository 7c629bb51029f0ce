"""Derive related models from a causal language model, with a known history.

Each change returns a new model and leaves its input untouched, so a family tree can be grown
from one parent: a short fine-tune on some text, an int8 round-trip of the weights (what a
quantised release does to a model), or light Gaussian noise on the weights. All of them are
deterministic given a seed. :func:`derive_folder` applies one change to a saved Hugging Face folder
and writes the child atomically.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from phylolm_harness.errors import InputError
from phylolm_harness.io.files import staged_folder

M = TypeVar("M", bound=PreTrainedModel)

Change = Callable[[PreTrainedModel, PreTrainedTokenizerBase], PreTrainedModel]
"""A change that makes a child model from a parent and its tokenizer."""


@contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Run a block with torch's global generator seeded, restoring its state afterwards.

    Parameters
    ----------
    seed : int
        Seed for the block.

    Yields
    ------
    None
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def token_windows(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], seq_len: int
) -> torch.Tensor:
    """Tokenize documents into one stream, separated by end-of-text, cut into fixed windows.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerBase
        Tokenizer to encode with.
    texts : sequence of str
        Documents.
    seq_len : int
        Window length in tokens.

    Returns
    -------
    torch.Tensor
        ``(n_windows, seq_len)`` int64 token ids.
    """
    if seq_len < 2:
        raise InputError(f"seq_len must be >= 2, got {seq_len}")
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for text in texts:
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        if isinstance(eos, int):
            stream.append(eos)
    n_windows = len(stream) // seq_len
    if n_windows == 0:
        raise InputError(
            f"training text has {len(stream)} tokens, fewer than one window of {seq_len}"
        )
    return torch.tensor(stream[: n_windows * seq_len], dtype=torch.long).view(n_windows, seq_len)


def fine_tune(
    model: M,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    steps: int,
    lr: float = 1e-4,
    batch_size: int = 4,
    seq_len: int = 64,
    seed: int = 0,
    freeze_embeddings: bool = False,
    last_layers: int | None = None,
) -> M:
    """Return a copy of a model trained for a few steps on some text.

    Plain next-token cross-entropy with AdamW (no weight decay, constant learning rate); batches
    are windows of the tokenized text drawn with a seeded generator.

    Parameters
    ----------
    model : PreTrainedModel
        Parent model; not modified.
    tokenizer : PreTrainedTokenizerBase
        Its tokenizer.
    texts : sequence of str
        Training documents.
    steps : int
        Number of optimisation steps (>= 1).
    lr : float
        Learning rate.
    batch_size : int
        Windows per step.
    seq_len : int
        Tokens per window.
    seed : int
        Seed of the batch order and of dropout, if any.
    freeze_embeddings : bool
        Keep the input and output embeddings fixed (saves optimiser memory on models with a large
        vocabulary).
    last_layers : int, optional
        Train only the parameters of the last ``last_layers`` transformer blocks (parameters
        named ``...layers.<i>....``) and the final norm; the gradient then never flows through
        the lower blocks, which makes each step several times cheaper on a large model.

    Returns
    -------
    PreTrainedModel
        The trained copy, in evaluation mode.
    """
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    windows = token_windows(tokenizer, texts, seq_len)
    child = copy.deepcopy(model)
    frozen: set[int] = set()
    if freeze_embeddings:
        for module in (child.get_input_embeddings(), child.get_output_embeddings()):  # type: ignore[no-untyped-call]
            if module is not None:
                frozen.update(id(p) for p in module.parameters())
    if last_layers is not None:
        n_layers = int(getattr(child.config, "num_hidden_layers", 0))
        if not 1 <= last_layers <= n_layers:
            raise InputError(f"last_layers must be between 1 and {n_layers}, got {last_layers}")
        keep = tuple(f"layers.{i}." for i in range(n_layers - last_layers, n_layers))
        frozen.update(
            id(p)
            for name, p in child.named_parameters()
            if not any(k in name for k in keep) and not name.endswith("norm.weight")
        )
    params = [p for p in child.parameters() if id(p) not in frozen]
    for p in child.parameters():
        p.requires_grad_(id(p) not in frozen)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    child.train()
    with seeded_torch(seed):
        for _ in range(steps):
            idx = torch.randint(0, windows.shape[0], (batch_size,), generator=generator)
            batch = windows[idx]
            loss = child(input_ids=batch, labels=batch).loss
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    _eval_mode(child)
    for p in child.parameters():
        p.requires_grad_(False)
        p.grad = None
    return child


def _eval_mode(model: M) -> M:
    """Put a model in evaluation mode and return it (transformers leaves ``eval`` untyped)."""
    model.eval()  # type: ignore[no-untyped-call]
    return model


def _weight_matrices(model: PreTrainedModel) -> Iterator[torch.nn.Parameter]:
    """Yield each 2-D floating-point parameter once (tied weights are shared)."""
    for param in model.parameters():
        if param.ndim == 2 and param.is_floating_point():
            yield param


def int8_round_trip(model: M) -> M:
    """Return a copy whose weight matrices went through symmetric per-row int8 quantisation.

    Each row ``w`` of every 2-D weight (linear layers and embeddings) becomes
    ``round(w / s) * s`` with ``s = max|w| / 127``, as a weight-only int8 release would store it;
    vectors (norms, biases) are kept.

    Parameters
    ----------
    model : PreTrainedModel
        Parent model; not modified.

    Returns
    -------
    PreTrainedModel
        The round-tripped copy.
    """
    child = copy.deepcopy(model)
    with torch.no_grad():
        for weight in _weight_matrices(child):
            scale = weight.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
            weight.copy_(torch.round(weight / scale).clamp_(-127, 127) * scale)
    return _eval_mode(child)


def add_weight_noise(model: M, relative_scale: float, seed: int) -> M:
    """Return a copy with Gaussian noise added to every weight matrix.

    Each 2-D weight ``W`` becomes ``W + relative_scale * std(W) * E`` with ``E`` standard normal
    drawn from a generator seeded with ``seed``.

    Parameters
    ----------
    model : PreTrainedModel
        Parent model; not modified.
    relative_scale : float
        Noise standard deviation relative to each matrix's own standard deviation (>= 0).
    seed : int
        Seed of the noise.

    Returns
    -------
    PreTrainedModel
        The noisy copy.
    """
    if relative_scale < 0:
        raise InputError(f"relative_scale must be >= 0, got {relative_scale}")
    child = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for weight in _weight_matrices(child):
            noise = torch.randn(weight.shape, generator=generator, dtype=weight.dtype)
            weight.add_(noise * (relative_scale * float(weight.std())))
    return _eval_mode(child)


def save_model_folder(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path
) -> Path:
    """Save a model and its tokenizer as a Hugging Face folder, atomically.

    The folder is written beside ``out_dir`` under a temporary name and renamed into place, so no
    reader ever sees a half-written model. An existing ``out_dir`` is replaced. The tokenizer's
    class is saved under the name every transformers release loads (``PreTrainedTokenizerFast``;
    transformers 5 writes ``TokenizersBackend``, which transformers 4 cannot load).

    Parameters
    ----------
    model : PreTrainedModel
        Model to save (safetensors weights and ``config.json``).
    tokenizer : PreTrainedTokenizerBase
        Tokenizer to save beside it.
    out_dir : Path
        Destination folder.

    Returns
    -------
    Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with staged_folder(out_dir, f".{out_dir.name}.") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _portable_tokenizer_class(Path(tmp) / "tokenizer_config.json")
    return out_dir


def _portable_tokenizer_class(config_file: Path) -> None:
    if not config_file.is_file():
        return
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def load_model_folder(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a Hugging Face causal-LM folder in float32 on the CPU.

    Parameters
    ----------
    path : Path
        Folder with ``config.json``, weights and tokenizer files.

    Returns
    -------
    tuple of (PreTrainedModel, PreTrainedTokenizerBase)
        The model in evaluation mode and its tokenizer.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(f"{path}: not a Hugging Face model folder (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return _eval_mode(model), tokenizer


def derive_folder(parent: Path, child: Path, change: Change) -> Path:
    """Apply a change to a saved model and save the child beside it, atomically.

    Parameters
    ----------
    parent : Path
        Hugging Face folder of the parent model.
    child : Path
        Destination folder of the child (replaced if present).
    change : callable
        ``change(model, tokenizer) -> model``, e.g.
        ``lambda m, t: add_weight_noise(m, 0.01, seed=1)``.

    Returns
    -------
    Path
        ``child``.
    """
    model, tokenizer = load_model_folder(parent)
    return save_model_folder(change(model, tokenizer), tokenizer, child)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run a block with torch limited to one thread (fastest for tiny matrices), then restore.

    Yields
    ------
    None
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
