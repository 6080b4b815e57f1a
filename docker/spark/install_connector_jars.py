"""Image build step: resolve Spark's Kafka connector and s3a jars, verify their checksums, add them to pyspark.

Runs once, in `docker build` (never at container start-up). The packages are resolved by Spark's own
Ivy resolver, so the transitive versions are exactly the ones the connector of this Spark release
declares. Every downloaded jar is checked against the SHA-1 the repository publishes next to it, and
against docker/spark/connector-jars.sha256 when that file pins SHA-256 sums. Jars whose artifact
pyspark already ships are not added (one version of each library on the classpath).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pyspark

REPOSITORY = "https://repo1.maven.org/maven2"
# Ivy names resolved jars "<org>_<module>-<revision>.jar".
_IVY_JAR = re.compile(r"^(?P<org>[^_]+)_(?P<module>.+?)-(?P<revision>\d[^-]*(?:-[^.]+)?)\.jar$")
_SPARK_JAR = re.compile(r"^(?P<module>.+?)-(?P<revision>\d.*)\.jar$")


def sha(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def published_sha1(org: str, module: str, revision: str) -> str:
    url = f"{REPOSITORY}/{org.replace('.', '/')}/{module}/{revision}/{module}-{revision}.jar.sha1"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https URL)
        return response.read().decode().split()[0].strip().lower()


def resolve(packages: list[str], ivy_dir: Path) -> list[Path]:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.jars.packages", ",".join(packages))
        .config("spark.jars.ivy", str(ivy_dir))
        .getOrCreate()
    )
    spark.stop()
    return sorted((ivy_dir / "jars").glob("*.jar"))


def read_pins(path: Path) -> dict[str, str]:
    """``<sha256>  <jar name>`` lines (sha256sum format); comments and blank lines skipped."""
    pins = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                digest, name = line.split()
                pins[name] = digest
    return pins


def install(
    resolved: list[Path],
    spark_jars: Path,
    pins: dict[str, str],
    sha1_of: Callable[[str, str, str], str] = published_sha1,
) -> list[str]:
    """Verify each resolved jar and copy the ones pyspark lacks into ``spark_jars``; sha256sum lines."""
    shipped = {m["module"] for jar in spark_jars.glob("*.jar") if (m := _SPARK_JAR.match(jar.name))}
    installed = []
    for jar in resolved:
        match = _IVY_JAR.match(jar.name)
        if not match:
            raise SystemExit(f"unexpected jar name {jar.name}")
        org, module, revision = match["org"], match["module"], match["revision"]
        expected = sha1_of(org, module, revision)
        if sha(jar, "sha1") != expected:
            raise SystemExit(f"SHA-1 mismatch for {jar.name}: {sha(jar, 'sha1')} != {expected}")
        target_name = f"{module}-{revision}.jar"
        digest = sha(jar, "sha256")
        if target_name in pins and pins[target_name] != digest:
            raise SystemExit(f"SHA-256 mismatch for {target_name}: {digest} != pinned {pins[target_name]}")
        if module in shipped:
            print(f"skip {target_name}: pyspark ships {module}", flush=True)
            continue
        shutil.copy2(jar, spark_jars / target_name)
        installed.append(f"{digest}  {target_name}")
    missing = sorted(set(pins) - {line.split()[1] for line in installed})
    if missing:
        raise SystemExit(f"pinned but not installed: {missing}")
    return installed


def main(argv: list[str]) -> int:
    pins_file, ivy_dir, *packages = argv
    spark_jars = Path(pyspark.__file__).resolve().parent / "jars"
    installed = install(resolve(packages, Path(ivy_dir)), spark_jars, read_pins(Path(pins_file)))
    print("installed (sha256):\n" + "\n".join(installed), flush=True)
    (spark_jars.parent / "connector-jars.sha256").write_text("\n".join(installed) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
