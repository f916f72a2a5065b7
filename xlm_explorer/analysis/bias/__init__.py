"""Bias probing, in four modules (import each by name: this package re-exports nothing).

- :mod:`.data`: the shipped and uploaded probe sets, sentence pairs and the cross-lingual probe (files in, dataclasses out)
- :mod:`.probes`: template probes, every target scored by every metric
- :mod:`.pairs`: CrowS-Pairs-style pairs, the per-pair scores and the bootstrap summary
- :mod:`.crosslingual`: one probe across languages

The metrics themselves (PLL, within-word PLL, AUL) are :mod:`xlm_explorer.analysis.pll`.
"""
