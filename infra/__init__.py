"""Pulumi program of dns-safeguards (`pulumi up` runs `infra/__main__.py`).

Modules here are imported by their plain names inside the program (Pulumi puts this directory
first on sys.path) and as `infra.<module>` by the tests.
"""
