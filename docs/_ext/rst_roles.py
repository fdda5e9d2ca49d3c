"""A griffe extension for the reference pages: the code's docstrings use a few
reStructuredText idioms (``:class:`~pkg.Name``` roles, ``text::`` before a literal
block) that Markdown would show as they are. Roles become code spans (``~`` keeps the
last name, as in Sphinx) and ``::`` a plain colon; the indented block after it is already
a code block in Markdown. The code is not changed, only what the site shows of it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")
_LITERAL = re.compile(r"::$", re.M)


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def markdown(text: str) -> str:
    return _LITERAL.sub(":", _ROLE.sub(_role, text))


class RstIdioms(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
