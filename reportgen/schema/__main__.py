"""Regenerate results.schema.json from the models: `python -m reportgen.schema` (or `make schema`); a path writes it
there instead."""

import sys
from pathlib import Path

from reportgen.schema import FILE, schema_text


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else FILE
    target.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":  # importing the module (a test walks every one) writes nothing
    main()
