"""Central retinal artery and vein equivalents (CRAE, CRVE) and their ratio (AVR) by the
revised Knudtson-Parr-Hubbard formulas (Knudtson et al., "Revised formulas for summarizing
retinal vessel diameters", Current Eye Research 27(3):143-149, 2003):

the six largest arteries (veins) entering the zone 0.5-1 disc diameters from the disc margin;
the largest is paired with the smallest, the second largest with the second smallest, and so
on, each pair replaced by ``k * sqrt(w1^2 + w2^2)`` (k = 0.88 for arteries, 0.95 for veins),
the middle one of an odd number carried over as it is; repeated until one width remains."""

from __future__ import annotations

import numpy as np

#: Knudtson's branching coefficients
ARTERY_K, VEIN_K = 0.88, 0.95
#: the number of largest vessels summarised
LARGEST = 6


def equivalent(widths, k: float) -> float:
    """The summary width of ``widths`` with branching coefficient ``k`` (one width: itself)."""
    w = sorted(float(x) for x in widths)
    if not w:
        raise ValueError("no vessel widths to summarise")
    while len(w) > 1:
        n = len(w)
        paired = [k * np.hypot(w[i], w[n - 1 - i]) for i in range(n // 2)]
        if n % 2:
            paired.append(w[n // 2])
        w = sorted(paired)
    return float(w[0])


def crae(widths) -> float:
    """CRAE of the arteries' widths: the six largest by Knudtson's formula (k = 0.88)."""
    return equivalent(sorted(widths)[-LARGEST:], ARTERY_K)


def crve(widths) -> float:
    """CRVE of the veins' widths: the six largest by Knudtson's formula (k = 0.95)."""
    return equivalent(sorted(widths)[-LARGEST:], VEIN_K)
