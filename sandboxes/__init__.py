"""Runs untrusted programs in many languages (Docker first, bubblewrap where Docker can't run).

Imports nothing else of this project (DESIGN.md section 2)."""
