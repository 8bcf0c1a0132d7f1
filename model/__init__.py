"""The MoSE multi-exit encoder and its trainer (docs/design.md, "The model")."""
