"""The README documents every setting (the table is checked, so it cannot drift from the code)."""

from rag.config import Settings
from tests.conftest import ROOT


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`RAG_{name.upper()}`" not in readme]
    assert missing == []
