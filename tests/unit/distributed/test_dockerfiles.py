"""Static checks of the Dockerfiles: sources exist, base images pinned, Spark's Kafka connector matches pyspark."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from eventlake.settings import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
EVENTLAKE_DOCKERFILE = DOCKER / "eventlake.Dockerfile"
CONNECTOR_SCRIPT = DOCKER / "spark" / "install_connector_jars.py"


def dockerfiles(services: dict[str, dict[str, Any]]) -> list[Path]:
    """Every Dockerfile compose builds (and only those)."""
    paths = {REPO_ROOT / service["build"]["dockerfile"] for service in services.values() if "build" in service}
    return sorted(paths)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    result = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def arg_defaults(path: Path) -> dict[str, str]:
    defaults = {}
    for keyword, rest in instructions(path):
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            defaults[name] = value.strip('"')
    return defaults


def dockerignore(path: Path) -> list[str]:
    """Patterns of the Dockerfile's own ignore file (<Dockerfile>.dockerignore, BuildKit)."""
    ignore = path.with_name(path.name + ".dockerignore")
    assert ignore.exists(), f"{ignore}: without it the whole repo (.venv included) is the build context"
    return [line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]


def is_sent(relative: str, patterns: list[str]) -> bool:
    """Whether a context path survives the ignore patterns (last matching pattern wins, like Docker)."""
    sent = True
    parts = relative.rstrip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, body) for prefix in prefixes):
            sent = negate
    return sent


def copy_sources(path: Path) -> list[str]:
    sources = []
    for keyword, rest in instructions(path):
        if keyword not in ("COPY", "ADD"):
            continue
        args = shlex.split(rest)
        if any(arg.startswith("--from") for arg in args):
            continue
        paths = [arg for arg in args if not arg.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def test_compose_builds_the_expected_dockerfiles(services: dict[str, dict[str, Any]]) -> None:
    assert dockerfiles(services) == [EVENTLAKE_DOCKERFILE, DOCKER / "hive-metastore" / "Dockerfile"]
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["context"] == ".", name


def test_dockerfiles_copy_only_files_that_exist_and_reach_the_context(services: dict[str, dict[str, Any]]) -> None:
    for dockerfile in dockerfiles(services):
        patterns = dockerignore(dockerfile)
        sources = copy_sources(dockerfile)
        assert sources, dockerfile
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"{dockerfile.name}: COPY {source}: no such file in the repo"
            assert is_sent(source, patterns), f"{dockerfile.name}: COPY {source} is excluded by the dockerignore"


def test_dockerignore_rule_is_checked() -> None:
    patterns = ["*", "!eventlake/", "!docker/", "**/__pycache__"]
    assert is_sent("eventlake/settings.py", patterns)
    assert not is_sent(".venv/bin/python", patterns)
    assert not is_sent("requirements.lock", patterns)


def test_build_targets_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        build = service.get("build")
        if build and "target" in build:
            stages = {rest.split()[-1] for kw, rest in instructions(REPO_ROOT / build["dockerfile"]) if kw == "FROM"}
            assert build["target"] in stages, f"{name}: no stage {build['target']}"


def test_base_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for dockerfile in dockerfiles(services):
        defaults = arg_defaults(dockerfile)
        stages: set[str] = set()
        for keyword, rest in instructions(dockerfile):
            if keyword != "FROM":
                continue
            words = [word for word in rest.split() if not word.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}", lambda m, defaults=defaults: defaults[m[1]], words[0])
            if image not in stages:
                tag = image.partition(":")[2]
                assert tag != "latest", f"{dockerfile.name}: unpinned {image}"
                assert re.search(r"\d", tag), f"{dockerfile.name}: unpinned {image}"
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])


def _locked_version(package: str) -> str:
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} not in requirements.lock")


def _pyspark_jar_version(module: str) -> tuple[str, str]:
    import pyspark

    jars = Path(pyspark.__file__).resolve().parent / "jars"
    names = [jar.name for jar in jars.glob(f"{module}*.jar")]
    assert names, f"pyspark ships no {module} jar"
    return names[0], names[0].removeprefix(module).removesuffix(".jar").lstrip("-")


def test_spark_kafka_connector_matches_pyspark_in_the_lock() -> None:
    defaults = arg_defaults(EVENTLAKE_DOCKERFILE)
    group, artifact, version = defaults["SPARK_KAFKA_CONNECTOR"].split(":")
    assert group == "org.apache.spark"
    assert version == _locked_version("pyspark")
    # The Scala binary version of the connector is pyspark's own (its spark-core_<scala> jar).
    core_jar, _ = _pyspark_jar_version("spark-core_")
    scala = re.match(r"spark-core_(\d+\.\d+)-", core_jar)[1]  # type: ignore[index]
    assert artifact == f"spark-sql-kafka-0-10_{scala}"
    assert core_jar == f"spark-core_{scala}-{version}.jar", "installed pyspark differs from the lock"


def test_hadoop_aws_matches_pyspark_s_hadoop_client() -> None:
    _, hadoop = _pyspark_jar_version("hadoop-client-api")
    assert arg_defaults(EVENTLAKE_DOCKERFILE)["HADOOP_AWS"] == f"org.apache.hadoop:hadoop-aws:{hadoop}"


def test_connectors_are_fetched_at_build_time_with_checksums() -> None:
    text = EVENTLAKE_DOCKERFILE.read_text()
    assert "install_connector_jars.py" in text
    script = CONNECTOR_SCRIPT.read_text()
    assert ".jar.sha1" in script
    assert "sha256" in script
    for service_file in (REPO_ROOT / "docker-compose.yml", DOCKER / "entrypoint.sh"):
        assert "--packages" not in service_file.read_text()
        assert "spark.jars.packages" not in service_file.read_text()
    hive = (DOCKER / "hive-metastore" / "Dockerfile").read_text()
    assert "sha1sum -c" in hive


@pytest.fixture(scope="module")
def connector_script() -> Any:
    spec = importlib.util.spec_from_file_location("install_connector_jars", CONNECTOR_SCRIPT)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "org.apache.spark_spark-sql-kafka-0-10_2.13-4.3.0.jar",
            ("org.apache.spark", "spark-sql-kafka-0-10_2.13", "4.3.0"),
        ),
        ("org.apache.kafka_kafka-clients-3.9.1.jar", ("org.apache.kafka", "kafka-clients", "3.9.1")),
        ("com.github.luben_zstd-jni-1.5.6-4.jar", ("com.github.luben", "zstd-jni", "1.5.6-4")),
        ("org.apache.hadoop_hadoop-aws-3.5.0.jar", ("org.apache.hadoop", "hadoop-aws", "3.5.0")),
    ],
)
def test_connector_script_reads_ivy_jar_names(connector_script: Any, name: str, expected: tuple[str, ...]) -> None:
    match = connector_script._IVY_JAR.match(name)
    assert (match["org"], match["module"], match["revision"]) == expected


def test_connector_script_knows_which_artifacts_pyspark_ships(connector_script: Any) -> None:
    import pyspark

    jars = Path(pyspark.__file__).resolve().parent / "jars"
    modules = {m["module"] for jar in jars.glob("*.jar") if (m := connector_script._SPARK_JAR.match(jar.name))}
    assert {"spark-core_2.13", "zstd-jni", "lz4-java", "snappy-java", "slf4j-api"} <= modules
    assert not any(module.startswith("kafka") for module in modules)


def test_entrypoint_is_executable_and_derives_the_configuration() -> None:
    entrypoint = DOCKER / "entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    assert "python -m eventlake.distributed container-env" in entrypoint.read_text()
    assert '"/opt/eventlake/docker/entrypoint.sh"' in EVENTLAKE_DOCKERFILE.read_text()


def test_images_install_the_lock_without_resolving() -> None:
    text = EVENTLAKE_DOCKERFILE.read_text()
    assert "pip install --no-deps -r /tmp/requirements/requirements.lock" in text
    for line in (DOCKER / "requirements-distributed.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", line.strip()), line


def test_the_image_carries_every_deployable_of_the_repo() -> None:
    """Same code on both stacks: each top-level deployable folder that exists is copied into the image."""
    copied = {source.rstrip("/") for source in copy_sources(EVENTLAKE_DOCKERFILE)}
    deployables = {"eventlake", "dags", "plugins", "spark_jobs", "producer_app", "sql"}
    present = {name for name in deployables if (REPO_ROOT / name).is_dir()}
    assert present <= copied, f"not in the image: {sorted(present - copied)}"


def test_python_modules_run_by_compose_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        command = service.get("command") or []
        if command[:2] == ["python", "-m"]:
            module = command[2]
            spec = importlib.util.find_spec(module)
            assert spec is not None, f"{name}: python -m {module}: no such module"
            assert Path(spec.origin or "").resolve().is_relative_to(REPO_ROOT), f"{name}: {module} is not the repo's"
            # Its command line parses with the module's own argument parser.
            main = importlib.import_module(f"{module}.__main__" if spec.submodule_search_locations else module)
            if hasattr(main, "parse_args"):
                main.parse_args(command[3:])
        if command[:1] == ["gunicorn"]:
            config, app = command[command.index("-c") + 1], command[-1]
            assert (REPO_ROOT / config).exists(), f"{name}: {config}"
            assert importlib.util.find_spec(app.split(":")[0]) is not None, f"{name}: {app}"


def _jar(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def test_connector_install_verifies_and_adds_only_what_pyspark_lacks(connector_script: Any, tmp_path: Path) -> None:
    import hashlib

    spark_jars = tmp_path / "pyspark" / "jars"
    _jar(spark_jars, "lz4-java-1.11.0.jar", b"shipped")
    ivy = tmp_path / "ivy" / "jars"
    connector = _jar(ivy, "org.apache.spark_spark-sql-kafka-0-10_2.13-4.3.0.jar", b"connector")
    clients = _jar(ivy, "org.apache.kafka_kafka-clients-3.9.1.jar", b"clients")
    duplicate = _jar(ivy, "org.lz4_lz4-java-1.8.0.jar", b"older lz4")
    published = {path.name: hashlib.sha1(path.read_bytes()).hexdigest() for path in (connector, clients, duplicate)}

    def sha1_of(org: str, module: str, revision: str) -> str:
        return published[f"{org}_{module}-{revision}.jar"]

    installed = connector_script.install([connector, clients, duplicate], spark_jars, {}, sha1_of)
    assert [line.split()[1] for line in installed] == ["spark-sql-kafka-0-10_2.13-4.3.0.jar", "kafka-clients-3.9.1.jar"]
    assert sorted(jar.name for jar in spark_jars.glob("*.jar")) == [
        "kafka-clients-3.9.1.jar",
        "lz4-java-1.11.0.jar",
        "spark-sql-kafka-0-10_2.13-4.3.0.jar",
    ]
    assert installed[0].split()[0] == hashlib.sha256(b"connector").hexdigest()

    # A corrupted download (SHA-1 differs from the repository's) stops the build.
    (tmp_path / "other").mkdir()
    published[connector.name] = "0" * 40
    with pytest.raises(SystemExit, match="SHA-1 mismatch"):
        connector_script.install([connector], tmp_path / "other", {}, sha1_of)
    published[connector.name] = hashlib.sha1(b"connector").hexdigest()
    # A pinned SHA-256 that differs stops it too, and so does a pin nothing resolved.
    with pytest.raises(SystemExit, match="SHA-256 mismatch"):
        connector_script.install(
            [connector], tmp_path / "other", {"spark-sql-kafka-0-10_2.13-4.3.0.jar": "0" * 64}, sha1_of
        )
    with pytest.raises(SystemExit, match="pinned but not installed"):
        connector_script.install([connector], tmp_path / "other", {"kafka-clients-3.9.1.jar": "0" * 64}, sha1_of)


def test_connector_pins_file_parses(connector_script: Any) -> None:
    assert connector_script.read_pins(DOCKER / "spark" / "connector-jars.sha256") == {}
