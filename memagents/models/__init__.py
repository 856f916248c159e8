"""Model layer: chat and embedding resolution, structured LLM calls, tokens, usage, prompts.

Every LLM step in memagents goes through :class:`StructuredLLM` (schema-validated, retried,
budgeted, counted); every embedding goes through :func:`embed_texts`.

Example:
    >>> from memagents.models import Budget, HashEmbeddings, Usage, embed_texts
    >>> usage = Usage()
    >>> embed_texts(HashEmbeddings(dim=32), ["alpha", "beta"], usage=usage).shape
    (2, 32)
    >>> usage.embedding_calls
    1
"""

from __future__ import annotations

from memagents.models._retry import RetryPolicy
from memagents.models.chat import chat_model_configured, resolve_chat_model
from memagents.models.embeddings import (
    HashEmbeddings,
    SentenceTransformerEmbeddings,
    aembed_query,
    aembed_texts,
    embed_query,
    embed_texts,
    embeddings_id,
    resolve_embeddings,
)
from memagents.models.prompts import (
    PromptTemplate,
    get_prompt,
    list_prompts,
    override_prompt,
    register_prompt,
    reset_prompt,
)
from memagents.models.structured import CallResult, StructuredLLM, structured_call
from memagents.models.tokens import (
    ApproxTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    count_message_tokens,
    count_tokens,
    get_tokenizer,
    truncate_to_tokens,
)
from memagents.models.usage import Budget, Usage

__all__ = [
    "ApproxTokenizer",
    "Budget",
    "CallResult",
    "HashEmbeddings",
    "PromptTemplate",
    "RetryPolicy",
    "SentenceTransformerEmbeddings",
    "StructuredLLM",
    "TiktokenTokenizer",
    "Tokenizer",
    "Usage",
    "aembed_query",
    "aembed_texts",
    "chat_model_configured",
    "count_message_tokens",
    "count_tokens",
    "embed_query",
    "embed_texts",
    "embeddings_id",
    "get_prompt",
    "get_tokenizer",
    "list_prompts",
    "override_prompt",
    "register_prompt",
    "reset_prompt",
    "resolve_chat_model",
    "resolve_embeddings",
    "structured_call",
    "truncate_to_tokens",
]
