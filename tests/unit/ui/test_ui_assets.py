"""The third-party browser files: pinned upstream releases, unmodified, each with its licence,
every one listed in the manifest with its sha256, and nothing served from elsewhere."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from tasktrail_api.ui.render import STATIC, TEMPLATES

VENDOR = STATIC / "vendor"
MANIFEST = json.loads((VENDOR / "manifest.json").read_text())


def listed() -> dict[str, str]:
    return {f["path"]: f["sha256"] for p in MANIFEST["packages"] for f in p["files"]}


def test_every_vendored_file_is_listed_with_its_sha256() -> None:
    on_disk = {
        str(path.relative_to(VENDOR))
        for path in VENDOR.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    }
    assert on_disk == set(listed())
    for path, digest in listed().items():
        assert hashlib.sha256((VENDOR / path).read_bytes()).hexdigest() == digest, path


def test_every_package_is_a_pinned_release_with_its_licence() -> None:
    for package in MANIFEST["packages"]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"]), package["name"]
        assert package["tarball"].startswith("https://registry.npmjs.org/")
        assert package["tarball"].endswith(f"-{package['version']}.tgz")
        assert package["tarball_integrity"].startswith("sha512-")
        licence = VENDOR / package["licence_file"]
        assert licence.is_file() and package["licence"] in {"MIT", "0BSD"}
        assert package["licence_file"] in listed()


def test_pages_load_scripts_and_styles_from_this_site_only() -> None:
    sources: set[str] = set()
    for template in Path(TEMPLATES).glob("*.html"):
        html = template.read_text()
        assert "//cdn" not in html and "http://" not in html and "https://" not in html
        sources.update(re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html))
    vendored = {s.removeprefix("/ui/static/vendor/") for s in sources if "/vendor/" in s}
    assert vendored and vendored <= set(listed())
    own = {s.removeprefix("/ui/static/") for s in sources if "/vendor/" not in s}
    assert all((STATIC / name).is_file() for name in own)
