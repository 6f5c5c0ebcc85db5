"""The fenced code blocks of a README section, so that tests run the README as written."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def section_blocks(title: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block in the README section headed `## {title}`, in
    order; AssertionError if there is no such section."""
    text = README.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no section '## {title}'"
    return re.findall(r"^```(\w*)\n(.*?)^```", match.group(1), re.M | re.S)


def commands(code: str) -> list[str]:
    """The command lines of a bash block, without comments and blank lines."""
    lines = (line.split("  #")[0].strip() for line in code.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def all_blocks() -> list[tuple[str, str, str]]:
    """(section title, language, code) of every fenced block in the README, in order; blocks
    before the first `## ` heading belong to the section titled ''."""
    out = []
    for part in re.split(r"^(?=## )", README.read_text(), flags=re.M):
        title = part[3:part.index("\n")].strip() if part.startswith("## ") else ""
        out += [(title, lang, code)
                for lang, code in re.findall(r"^```(\w*)\n(.*?)^```", part, re.M | re.S)]
    return out
