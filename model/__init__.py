"""The MoSE multi-exit encoder and its trainer (DESIGN.md section 7)."""
