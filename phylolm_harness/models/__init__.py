"""lm-eval model classes that also serve exact allele distributions (``phylolm_alleles``).

Each class extends one of lm-eval's stock adapters and is registered under a ``phylolm-`` name:

==================================  ===========================================================
lm-eval name                        class (in ``phylolm_harness.models``)
==================================  ===========================================================
``phylolm-hf``                      ``hf.PhyloHFLM`` (extends ``hf``)
``phylolm-vllm``                    ``vllm.PhyloVLLM`` (extends ``vllm``)
``phylolm-local-completions``       ``openai.PhyloLocalCompletions`` (extends ``local-completions``)
``phylolm-local-chat-completions``  ``openai.PhyloLocalChatCompletions``
==================================  ===========================================================

The submodules import lm-eval and their backend; import them only when needed.
"""

from __future__ import annotations

MODEL_CLASSES = {
    "phylolm-hf": "phylolm_harness.models.hf:PhyloHFLM",
    "phylolm-vllm": "phylolm_harness.models.vllm:PhyloVLLM",
    "phylolm-local-completions": "phylolm_harness.models.openai:PhyloLocalCompletions",
    "phylolm-local-chat-completions": "phylolm_harness.models.openai:PhyloLocalChatCompletions",
}
"""lm-eval model name -> ``module:Class`` path."""

__all__ = ["MODEL_CLASSES"]
