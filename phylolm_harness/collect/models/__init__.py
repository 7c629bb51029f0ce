"""lm-eval model classes that also serve exact allele distributions (``phylolm_alleles``).

Each class extends one of lm-eval's stock adapters and is registered under a ``phylolm-`` name:

==================================  ===========================================================
lm-eval name                        class (in ``phylolm_harness.collect.models``)
==================================  ===========================================================
``phylolm-hf``                      ``hf.PhyloHFLM`` (extends ``hf``)
``phylolm-vllm``                    ``vllm.PhyloVLLM`` (extends ``vllm``)
``phylolm-local-completions``       ``openai.PhyloLocalCompletions`` (extends ``local-completions``)
``phylolm-local-chat-completions``  ``openai.PhyloLocalChatCompletions``
==================================  ===========================================================

The submodules import lm-eval and their backend; import them only when needed.
"""

from __future__ import annotations

_HERE = "phylolm_harness.collect.models"

MODEL_CLASSES = {
    "phylolm-hf": f"{_HERE}.hf:PhyloHFLM",
    "phylolm-vllm": f"{_HERE}.vllm:PhyloVLLM",
    "phylolm-local-completions": f"{_HERE}.openai:PhyloLocalCompletions",
    "phylolm-local-chat-completions": f"{_HERE}.openai:PhyloLocalChatCompletions",
}
"""lm-eval model name -> ``module:Class`` path."""

__all__ = ["MODEL_CLASSES"]
