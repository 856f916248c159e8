"""The web layer: search backends, a polite and safe page fetcher, browse tools and agents.

Subpackages load on demand: ``memagents.web.search`` holds the search backends behind one
protocol (SearxNG, Brave, Tavily and a local index), each tested against a loopback server
that speaks its wire format (:mod:`memagents.testing.search_servers`).
"""
