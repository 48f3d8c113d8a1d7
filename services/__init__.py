"""The demo services, installed as ``slolab.services`` (pyproject.toml maps this folder)."""
