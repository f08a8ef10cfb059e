"""Word (.docx) report builders: an incident snapshot in, document bytes out.

No Flask, database or Graph code belongs here, so the builders can be tested and
benchmarked on their own.
"""
