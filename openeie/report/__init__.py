"""Rendering only: plots (:mod:`.plots`), Markdown pages (:mod:`.markdown`) and text tables (:mod:`.tables`)
of the data the flows and domains return. Imports only the core (and matplotlib).
"""
