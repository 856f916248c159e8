"""Browse benchmarks: grading runs BrowseComp's way now; synthesizing and re-verifying
benchmark releases from the live web (the spec's §7 checklist) will grow here.

It sits above the capabilities in the layers (``memagents.web`` for the judge,
``memagents.eval`` for the pure parts), under the interfaces. The command group is
:mod:`memagents.browsecomp.cli` (``memagents bench``).
"""

from __future__ import annotations
