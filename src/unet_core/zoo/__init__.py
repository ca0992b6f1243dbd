"""bioimage.io model packages (format 0.5): :mod:`.write` makes one of any model of this tool,
for bioimageio.core, deepImageJ, ilastik and the BioImage Model Zoo; :mod:`.read` opens one so
that ``--model FILE.zip`` runs it, and names what a package of another architecture is."""
