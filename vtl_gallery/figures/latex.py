"""The LaTeX that puts a downloaded figure in a paper: a figure environment with graphic, caption and URL."""

from __future__ import annotations

import textwrap

__all__ = ["latex_escape", "latex_snippet", "latex_url"]

_LINE = 88  # the caption is wrapped at spaces (never inside a URL) to lines this long

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "→": r"$\to$",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """`text` as LaTeX source that prints it (underscores of layer names and the like escaped)."""
    return "".join(_SPECIAL.get(char, char) for char in text)


def latex_url(url: str) -> str:
    r"""`url` as the argument of ``\url`` in a caption: ``%`` and ``#`` escaped, as the url package wants."""
    return (
        url.replace("\\", "/").replace("%", r"\%").replace("#", r"\#").replace("{", "%7B").replace("}", "%7D")
    )


def latex_snippet(
    *, graphic: str, columns: int, caption: str, page_url: str, file_url: str, label: str
) -> str:
    r"""A figure environment for a downloaded figure file.

    Args:
        graphic: the file name as the paper's folder will have it (the download's name).
        columns: 1 (``figure``, ``\columnwidth``) or 2 (``figure*``, ``\textwidth``).
        caption: what the figure shows, plain text (escaped here).
        page_url: the permanent URL of the figure's page, cited in the caption ("": none).
        file_url: the permanent URL of the file, in a comment ("": none).
        label: the ``\label`` key (``fig:...``).

    Returns:
        The LaTeX, which needs ``\usepackage{graphicx}`` and ``\usepackage{url}`` (or hyperref).
    """
    environment, width = ("figure", r"\columnwidth") if columns == 1 else ("figure*", r"\textwidth")
    text = latex_escape(caption.rstrip(".")) + "."
    if page_url:
        text += rf" From \url{{{latex_url(page_url)}}}."
    lines = [
        rf"\begin{{{environment}}}[tbp]",
        r"  \centering",
        rf"  \includegraphics[width={width}]{{{graphic}}}",
        *textwrap.wrap(
            rf"\caption{{{text}}}",
            width=_LINE,
            initial_indent="  ",
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        ),
        rf"  \label{{{label}}}",
        rf"\end{{{environment}}}",
    ]
    if file_url:
        lines.append(f"% {graphic}: {file_url}")
    packages = (
        r"\usepackage{graphicx} and \usepackage{url} (or hyperref)" if page_url else r"\usepackage{graphicx}"
    )
    return "\n".join([*lines, f"% needs {packages}"])
