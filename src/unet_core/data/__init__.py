"""Images in and out (io.py, lazy.py), their preprocessing, augmentation and data sets, the
public data sets (drive.py, isbi2012.py) and a user's own folders (folders.py, label_rules.py)."""
