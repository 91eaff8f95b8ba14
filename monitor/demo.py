"""The example hall: load the vendor-style example schema into a database and point a config at it.

``jiancha demo`` builds it as a SQLite file so the README's first command works with
nothing else installed; tests load the same SQL into PostgreSQL and MariaDB. (The live
simulator of a whole service center replaces this in a later issue.)
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sqlalchemy import create_engine, text

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "vendor_pinyin"


def sql_statements(path: Path) -> list[str]:
    """The statements of a plain SQL script (``--`` comments, ``;`` at line ends)."""
    body = "\n".join(
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("--")
    )
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def load_example(url: str, example_dir: Path = EXAMPLE_DIR) -> None:
    """Create the example tables and rows in the database at ``url``."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for script in ("schema.sql", "seed.sql"):
                for statement in sql_statements(example_dir / script):
                    connection.execute(text(statement))
    finally:
        engine.dispose()


def build_demo(workdir: Path, example_dir: Path = EXAMPLE_DIR) -> Path:
    """A fresh SQLite example hall in ``workdir``; returns the path of its config."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "hall.db"
    database.unlink(missing_ok=True)
    load_example(f"sqlite:///{database.resolve()}", example_dir)
    config = workdir / "jiancha.yaml"
    shutil.copyfile(example_dir / "jiancha.yaml", config)
    return config
