"""An example torchlint rule plug-in (see README.md)."""
