"""Demo halls: the hand-counted example hall and the simulator of a whole service center."""

from monitor.demo.example import (
    EXAMPLE_DIR,
    ExampleWindowSystem,
    build_demo,
    load_example,
    sql_statements,
)

__all__ = ["EXAMPLE_DIR", "ExampleWindowSystem", "build_demo", "load_example", "sql_statements"]
