"""What ophthalmic research measures on a vessel map (numpy, scipy, scikit-image; no torch):
the centreline cut into segments between branch points (:mod:`.segments`), calibre, tortuosity
and fractal dimension (:mod:`.shape`), the optic disc and its measurement zone (:mod:`.disc`),
CRAE, CRVE and AVR by Knudtson's revised formulas (:mod:`.knudtson`), and the table of one
photograph in microns or pixels (:mod:`.biomarkers`). docs/retina.md defines every measure."""
