"""The README's Python API example runs as written (with one epoch instead of twenty, to stay fast)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has no Python example"
    code = next((block for block in blocks if "epochs=20" in block), None)
    assert code is not None, "the README's Python API example (epochs=20) is missing"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.replace("epochs=20", "epochs=1"), "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["images"].shape == (16, 1, 8, 8)
    assert namespace["nats"].shape == (16,)
    assert namespace["more"].shape == (4, 1, 8, 8)
    assert abs(namespace["evaluation"].result.bits_per_dim - namespace["result"].test.bits_per_dim) < 1e-9
