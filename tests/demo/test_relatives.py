from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support.tiny_models import (
    TinySpec,
    init_tiny_model,
    synthetic_corpus,
    train_tokenizer,
)
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from phylolm_harness.demo.relatives import (
    add_weight_noise,
    derive_folder,
    fine_tune,
    int8_round_trip,
    load_model_folder,
    save_model_folder,
    token_windows,
)
from phylolm_harness.errors import InputError

TEXTS = synthetic_corpus("code", 80, seed=0)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    return train_tokenizer(TEXTS, vocab_size=300)


@pytest.fixture()
def model(tokenizer: PreTrainedTokenizerFast) -> PreTrainedModel:
    return init_tiny_model(tokenizer, TinySpec(vocab_size=300), seed=0)


def _state(m: PreTrainedModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _loss(m: PreTrainedModel, tok: PreTrainedTokenizerFast) -> float:
    batch = token_windows(tok, TEXTS[:20], 32)
    with torch.no_grad():
        return float(m(input_ids=batch, labels=batch).loss)


def test_token_windows_shape_and_short_text(tokenizer: PreTrainedTokenizerFast) -> None:
    windows = token_windows(tokenizer, TEXTS, 16)
    assert windows.ndim == 2 and windows.shape[1] == 16 and windows.dtype == torch.long
    with pytest.raises(InputError, match="fewer than one window"):
        token_windows(tokenizer, ["ab"], 64)


def test_int8_round_trip_quantises_rows_and_keeps_parent(model: PreTrainedModel) -> None:
    before = _state(model)
    child = int8_round_trip(model)
    assert _same(before, _state(model))
    w = model.model.layers[0].mlp.up_proj.weight
    q = child.model.layers[0].mlp.up_proj.weight
    step = w.abs().amax(dim=1, keepdim=True) / 127
    assert not torch.equal(w, q)
    assert bool(((w - q).abs() <= step / 2 + 1e-7).all())
    assert len(torch.unique(torch.round(q / step))) <= 255
    norm = "model.layers.0.input_layernorm.weight"
    assert torch.equal(child.state_dict()[norm], before[norm])
    again = int8_round_trip(child)
    assert torch.allclose(again.model.layers[0].mlp.up_proj.weight, q, atol=1e-6)


def test_weight_noise_is_seeded_and_scaled(model: PreTrainedModel) -> None:
    before = _state(model)
    a = add_weight_noise(model, 0.1, seed=1)
    b = add_weight_noise(model, 0.1, seed=1)
    c = add_weight_noise(model, 0.1, seed=2)
    assert _same(before, _state(model))
    assert _same(_state(a), _state(b))
    assert not _same(_state(a), _state(c))
    w = model.model.layers[1].self_attn.q_proj.weight
    ratio = float(((a.model.layers[1].self_attn.q_proj.weight - w).std() / w.std()).detach())
    assert 0.08 < ratio < 0.12
    assert _same(_state(add_weight_noise(model, 0.0, seed=3)), before)
    with pytest.raises(InputError):
        add_weight_noise(model, -0.1, seed=0)


def test_fine_tune_lowers_loss_on_its_text_and_is_deterministic(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast
) -> None:
    before = _state(model)
    tuned = fine_tune(model, tokenizer, TEXTS, steps=30, lr=3e-3, seed=4)
    again = fine_tune(model, tokenizer, TEXTS, steps=30, lr=3e-3, seed=4)
    assert _same(before, _state(model))
    assert _same(_state(tuned), _state(again))
    assert _loss(tuned, tokenizer) < _loss(model, tokenizer) - 0.5
    assert not tuned.training and all(not p.requires_grad for p in tuned.parameters())
    with pytest.raises(InputError, match="steps"):
        fine_tune(model, tokenizer, TEXTS, steps=0)


def test_fine_tune_can_freeze_embeddings(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast
) -> None:
    tuned = fine_tune(model, tokenizer, TEXTS, steps=3, lr=1e-2, seed=0, freeze_embeddings=True)
    assert torch.equal(tuned.model.embed_tokens.weight, model.model.embed_tokens.weight)
    assert not torch.equal(
        tuned.model.layers[0].mlp.up_proj.weight, model.model.layers[0].mlp.up_proj.weight
    )


def test_folders_round_trip_and_derive(
    tmp_path: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast
) -> None:
    parent = save_model_folder(model, tokenizer, tmp_path / "parent")
    save_model_folder(model, tokenizer, tmp_path / "parent")  # replaces in place
    child = derive_folder(parent, tmp_path / "child", lambda m, t: add_weight_noise(m, 0.5, seed=9))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child", "parent"]
    loaded_parent, _ = load_model_folder(parent)
    loaded_child, tok = load_model_folder(child)
    assert _same(_state(loaded_parent), _state(model))
    assert not _same(_state(loaded_child), _state(model))
    assert tok("x = 1")["input_ids"] == tokenizer("x = 1")["input_ids"]


def test_load_model_folder_rejects_non_models(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a Hugging Face model folder"):
        load_model_folder(tmp_path)
