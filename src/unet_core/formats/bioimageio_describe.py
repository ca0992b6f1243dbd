"""What a package says about its model in words: citations, tags and its README, all from the
model card (nothing here needs bioimageio.spec)."""

from __future__ import annotations

import json

from ..model.card import ModelCard
from ..tasks import task_of

UNET = ("Ronneberger, Fischer and Brox. U-Net: Convolutional Networks for Biomedical Image "
        "Segmentation. MICCAI 2015, LNCS 9351:234-241", "10.1007/978-3-319-24574-4_28")  # fmt: skip
#: data sets a model's provenance may name (any of the words), with their citations
DATASETS = (
    (("DRIVE", "Staal"), "Staal et al. Ridge-based vessel segmentation in color images of the "
     "retina. IEEE TMI 23(4):501-509, 2004 (the DRIVE data set)", "10.1109/TMI.2004.825627"),
    (("ISBI", "Arganda"), "Arganda-Carreras et al. Crowdsourcing the creation of image "
     "segmentation algorithms for connectomics. Front. Neuroanat. 9:142, 2015 (the ISBI 2012 EM "
     "segmentation challenge)", "10.3389/fnana.2015.00142"),
)  # fmt: skip


def citations(card: ModelCard) -> list[tuple[str, str]]:
    """(text, DOI) of the U-Net paper and of each data set the card's provenance names."""
    text = json.dumps(card.provenance) + card.description
    return [UNET] + [(cite, doi) for words, cite, doi in DATASETS if any(w in text for w in words)]


def tags(card: ModelCard) -> list[str]:
    """The package's tags: this tool's, and its task's (``Task.tags``)."""
    dims = f"{card.architecture.get('spatial_dims', 2)}d"
    return ["napari-unet", "unet", dims, "semantic-segmentation", *task_of(card).tags]


def readme(card: ModelCard) -> str:
    """The package's documentation: what goes in, what comes out, how it was validated and
    made (the model card)."""
    pre = card.preprocessing
    scale = ", ".join(f"{k}={v}" for k, v in card.scale.items())
    volume = card.architecture.get("spatial_dims", 2) == 3
    kind, axes = ("volume", ", axes z, y, x") if volume else ("image", "")
    lines = [
        f"# {card.name or 'napari-unet model'}",
        "",
        card.description
        or f"A {'3-D ' * volume}U-Net for {card.task} {kind}s, made with napari-unet.",
        "",
        "## Input and output",
        "",
        f"- Input: the {kind} as `channels={pre.channels}` selects it (float32{axes}), "
        f"normalised per {kind} and channel (`{pre.normalize}`), as the package's preprocessing "
        "says.",
        f"- Output: the probability of each class: {', '.join(card.classes)}.",
    ]
    if scale:
        lines.append(f"- Scale: the model was trained at {scale}. Resample images to that "
                     "scale first; napari-unet does this itself when it runs the package "
                     "(`--model FILE.zip`).")  # fmt: skip
    lines += ["", "## Validation", "", *_validation(card), "", "## The model card", "", "```",
              card.render(), "```", ""]  # fmt: skip
    return "\n".join(lines)


def _validation(card: ModelCard) -> list[str]:
    found = [(k, v) for k, v in card.provenance.items() if "validation" in k or "benchmark" in k]
    found = [(k, v) for k, v in found if v not in ({}, [], None, "")]
    if not found:
        return ["No validation was recorded for this model. Validate it on images with ground "
                "truth that it was not trained on, e.g. with `napari-unet evaluate`."]  # fmt: skip
    return [f"- {k}: `{json.dumps(v)}`" for k, v in found]
