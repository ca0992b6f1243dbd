"""CRAE and CRVE from the map's widths against widths read from the photograph: DRIVE's
training photographs, RITE's artery/vein labels and any models' maps, each zone vessel's
trunk (as CRAE and CRVE take it, ``unet_core.retina.zone.zone_trunks``) measured by its map
(area over length, the rule before 2026-12-06) and across its centreline on the green channel
at half the vessel's depth below the retina beside it (``unet_core.retina.profile``, shipped).

    python benchmarks/zone_widths.py [--data ../shared/data] [--ids 37 38 39 40]
        [--models NAME=FILE ...] [--enlarge F]

``--enlarge F``: the photographs and their labels enlarged F times first (the same retina
with more pixels: a width measure that holds gives the same microns).

Per photograph, map and type: the zone's vessels, the median ratio of the two widths, and
CRAE or CRVE in microns (45-degree field of view) from each.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--ids", type=int, nargs="+", default=[37, 38, 39, 40])
    parser.add_argument("--models", nargs="*", default=[], metavar="NAME=FILE")
    parser.add_argument("--enlarge", type=float, default=1.0)
    args = parser.parse_args()
    from unet_core.data import drive
    from unet_core.formats.store import load_model
    from unet_core.inference.predictor import Predictor
    from unet_core.postprocess import probabilities_to_labels
    from unet_core.retina.biomarkers import MICRONS_PER_DEGREE
    from unet_core.retina.disc import find_disc

    models = {n: Predictor(load_model(f, device="cpu"), device="cpu")
              for n, f in (m.split("=", 1) for m in args.models)}  # fmt: skip
    root = f"{args.data}/drive"
    print("| image | map | type | vessels | photograph / map width (median) | "
          "CRAE or CRVE µm, map widths | **the same, photograph's widths** |")
    print("|---|---|---|---|---|---|---|")
    for d in drive.load_drive(root, tuple(args.ids)):
        labels = np.where(d.fov, drive.av_labels(root, d.id), 0)
        if args.enlarge != 1.0:
            d, labels = enlarged(d, labels, args.enlarge)
        maps = {"labels": np.where(labels == 3, 1, labels)}  # 3, uncertain: a vessel
        maps.update({n: probabilities_to_labels(p(d.image)) for n, p in models.items()})
        um = 45 * MICRONS_PER_DEGREE / (2 * np.sqrt(d.fov.sum() / np.pi))
        disc, why = find_disc(d.image, d.fov, maps["labels"] > 0, um)
        if disc is None:
            print(f"| {d.id} | | | | {why} | | |")
            continue
        for name, found in maps.items():
            for line in rows(d.image, found, disc, um):
                print(f"| {d.id} | {name} | " + line, flush=True)


def enlarged(d, labels, factor: float):
    import dataclasses

    from unet_core.base.arrays import resize

    size = (round(labels.shape[0] * factor), round(labels.shape[1] * factor))
    fov = resize(d.fov.astype(np.float32), size, order=0) > 0.5
    labels = resize(labels.astype(np.float32), size, order=0).astype(np.uint8)
    return dataclasses.replace(d, image=resize(d.image, size), fov=fov), labels


def rows(image, labels, disc, um) -> list[str]:
    from unet_core.retina.disc import zone_mask
    from unet_core.retina.knudtson import LARGEST, crae, crve
    from unet_core.retina.profile import half_height_width, least_depth, vessel_channel
    from unet_core.retina.segments import vessel_segments
    from unet_core.retina.zone import zone_trunks

    zone, channel = zone_mask(labels.shape, disc), vessel_channel(image)
    floor, segments = least_depth(channel), vessel_segments(labels > 0, labels)
    out = []
    for k, name, summary in ((1, "artery", crae), (2, "vein", crve)):
        trunks = zone_trunks([s for s in segments if s.label == k], zone, disc)
        own = np.array([s.width(inside) for s, inside in trunks])
        seen = np.array([half_height_width(channel, s.path, inside, w, labels > 0, floor)
                         for (s, inside), w in zip(trunks, own)])  # fmt: skip
        ok = np.isfinite(seen)
        both = np.where(ok, seen, own)  # as shipped: the map's width where no clear edges
        cells = [f"{summary(x) * um:.0f}" if len(x) >= LARGEST else f"({len(x)} found)"
                 for x in (own, both)]  # fmt: skip
        ratio = f"{np.median(seen[ok] / own[ok]):.2f}" if ok.any() else ""
        out.append(f"{name} | {len(own)} | {ratio} | {cells[0]} | **{cells[1]}** |")
    return out


if __name__ == "__main__":
    main()
