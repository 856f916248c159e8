"""The graph core of graph memory: the HippoRAG 2 algorithm, storage-free and model-free.

Nothing here opens a file or calls a model; embeddings come in as a function. The facade
(:class:`~memagents.graphmem.GraphMemory`) and its write and read paths sit on top of it.

* :mod:`.config`: presets (graph construction, search, PPR settings).
* :mod:`.normalize`: triple cleaning and phrase normalisation.
* :mod:`.graph`: :class:`~.graph.GraphIndex`, the incremental, order-independent graph, and
  :mod:`.delta`, the changes it reports for persistence.
* :mod:`.synonymy`: synonymy edges between phrases.
* :mod:`.vector_cache`: the per-string vector cache of an index.
* :mod:`.matrices`: the immutable search arrays of one graph version.
* :mod:`.ppr`: the Personalized PageRank solver.
* :mod:`.search`: :class:`~.search.GraphSearcher`: question → linked facts → seeds → PPR.
* :mod:`.knowledge`: :class:`~.knowledge.KnowledgeView`: entities, facts and passages of one
  graph version ranked by cosine, neighbours, sources (behind the ``KnowledgeIndex`` methods).

Modules are imported on use (this package imports none of them), so importing one module does
not load scipy or the others.
"""
