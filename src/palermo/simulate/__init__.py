"""``palermo simulate``: a trafficking operation and the world around it, with ground truth.

``simulate(scenario, scale, seed, out)`` writes ``out/observed/`` (the sources an investigation would
receive, in the formats it would receive them), ``out/truth/`` (who is really who, networks, victims,
money) and ``out/manifest.json`` (each observed file with the mapping that ingests it, so that
``palermo ingest out`` takes the whole folder). Same scenario, scale and seed: byte-identical output.
See docs/simulator.md.
"""

from __future__ import annotations

from palermo.simulate.run import simulate
from palermo.simulate.scenarios import PRESETS, SCENARIOS, parse_scale

__all__ = ["PRESETS", "SCENARIOS", "parse_scale", "simulate"]
