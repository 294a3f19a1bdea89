"""Parses and lays out every ```mermaid block of the Markdown files given, with Mermaid's own
JavaScript (mermaidx runs mermaid.js in an embedded QuickJS: offline, no browser, no Node).
Exit 0 when every block renders, 1 naming the first that does not, 2 when there is no block.
Used by the end-to-end tests on rollback-summary.md; ci/test.sh installs mermaidx."""
import re
import sys

import mermaidx


def main(paths):
    blocks = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        blocks += [(path, match.group(1)) for match in re.finditer(r"```mermaid\n(.*?)```", text, re.S)]
    if not blocks:
        print("no mermaid block in " + ", ".join(paths))
        return 2
    for index, (path, code) in enumerate(blocks):
        try:
            svg = mermaidx.render(code).svg()
        except Exception as error:  # mermaid's parse errors arrive as MermaidRenderError
            print(f"{path}: block {index + 1} does not render: {error}\n{code}")
            return 1
        if "<svg" not in svg:
            print(f"{path}: block {index + 1} rendered no SVG")
            return 1
    print(f"{len(blocks)} mermaid block(s) render")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
