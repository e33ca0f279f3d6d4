"""Every user-facing string in English, German, Polish, Portuguese (Brazil) and Finnish."""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ["de", "pl", "pt_BR", "fi"]
SOURCE_DIRS = [
    "config",
    "tenants",
    "documents",
    "connections",
    "messaging",
    "partners",
    "notifications",
    "demo",
    "templates",
]


def catalog(language, root=ROOT):
    return polib.pofile(str(root / "locale" / language / "LC_MESSAGES" / "django.po"))


def _problems(po):
    untranslated = [entry.msgid for entry in po.untranslated_entries()]
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]
    return untranslated, fuzzy


@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_catalog_is_complete(language):
    po = catalog(language)
    untranslated, fuzzy = _problems(po)
    assert not untranslated, f"{language}: untranslated {untranslated}"
    assert not fuzzy, f"{language}: fuzzy {fuzzy}"
    assert len(po) > 100


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_survive_translation(language):
    import re

    placeholder = re.compile(r"%\(\w+\)[sd]")
    for entry in catalog(language):
        expected = set(placeholder.findall(entry.msgid))
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for translation in translations:
            found = set(placeholder.findall(translation))
            # A singular form may say "one" instead of %(count)d.
            assert found <= expected and expected - found <= {"%(count)d"}, (language, entry.msgid)


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext to extract strings")
def test_no_string_in_the_code_is_missing_from_the_catalogs(tmp_path):
    """Extracts the strings afresh (as `make makemessages` would) into a copy of the catalogs."""
    for name in SOURCE_DIRS:
        if (ROOT / name).is_dir():
            (tmp_path / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "locale", tmp_path / "locale", ignore=shutil.ignore_patterns("*.mo"))
    languages = [arg for language in LANGUAGES for arg in ("-l", language)]
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "makemessages",
            "--symlinks",
            "--no-obsolete",
            *languages,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for language in LANGUAGES:
        untranslated, fuzzy = _problems(catalog(language, tmp_path))
        assert not untranslated and not fuzzy, (
            f"{language}: run `make makemessages` and translate: {untranslated + fuzzy}"
        )
