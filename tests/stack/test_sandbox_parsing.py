"""bench/sandbox.py reads compose and the Dockerfile as compose and docker do."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.sandbox import Image, _rewrite, interpolate


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("${A}", {}, ""),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A-d}", {}, "d"),
        ("${A:?need A}", {"A": "x"}, "x"),
        ("$${A} $$HOME", {"A": "1"}, "${A} $HOME"),
    ],
)
def test_interpolation_follows_compose(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env) == expected


@pytest.mark.parametrize(("text", "env"), [("${A:?need A}", {"A": ""}), ("${A?need A}", {})])
def test_required_variables_are_refused(text: str, env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="need A"):
        interpolate(text, env)


def test_dockerfile_runtime_stage(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM base AS build\n"
        "ENV SKIPPED=1\n"
        "USER 5\n"
        "FROM base AS runtime\n"
        "COPY --from=build /opt/venv /opt/venv\n"
        "COPY --chmod=0755 docker/check /usr/local/bin/check\n"
        "ENV PATH=/opt/venv/bin:$PATH \\\n"
        "    # a comment inside a continuation, dropped as docker does\n"
        "    A=1 \\\n"
        '    B="two words"\n'
        "WORKDIR /tmp\n"
        "USER 10001:10002\n"
        'ENTRYPOINT ["slolab"]\n'
    )
    image = Image.from_dockerfile(dockerfile)
    assert image.env["PATH"].startswith("/opt/venv/bin:/usr/local/bin:")
    assert (image.env["A"], image.env["B"]) == ("1", "two words")
    assert "SKIPPED" not in image.env
    assert (image.uid, image.gid, image.workdir) == (10001, 10002, "/tmp")
    assert image.entrypoint == ["slolab"]
    assert image.copies == {"/opt/venv": "/opt/venv", "/usr/local/bin/check": "docker/check"}
    assert image.native_env()["PATH"].split(":")[0].endswith("/bin")
    assert "/opt/venv" not in image.native_env()["PATH"]


def test_path_rewrites_do_not_rewrite_their_own_output() -> None:
    # The host folder for /etc/alertmanager/secrets contains "/alertmanager/", itself
    # a container path (the tmpfs): replaced text must not be replaced again.
    mapping = {
        "/etc/alertmanager/secrets/": "/tmp/x/alertmanager/v1/",
        "/alertmanager/": "/tmp/t0/",
    }
    assert _rewrite("/etc/alertmanager/secrets/key", mapping) == "/tmp/x/alertmanager/v1/key"
    assert _rewrite("/alertmanager/nflog", mapping) == "/tmp/t0/nflog"
