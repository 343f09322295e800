"""Start a real Apache Kafka broker (KRaft mode, from its Maven Central jars) as a child process.

For tests of the Kafka-protocol (Redpanda) connector where Docker is not available. One JVM is broker and
controller at once, bound to 127.0.0.1 on free ports. The jars come from `deploy/kafka/provision.sh` (run here
when they are missing) into `$STRIX_KAFKA_HOME` or `.ci/cache/kafka`. A missing java, missing jars or a broker
that does not start is an error with the log tail, never a skip.

Measured on the shared 2-core project machine (load 1.5-3): `start_kafka` returns in 2.4-3.8 s (formatting
the storage ~1 s of it) once the JVM's class-data archive exists; the first start, without it, takes 4.5-7 s
and its clean stop ~5 s more while the JVM writes the archive (`<kafka home>/cds`). With the default tiered JIT
and no archive a start took 8-13 s. RSS ~165 MB after start, ~175 MB after 1000 messages through a group.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

KAFKA_VERSION = "4.4.0"
SCALA_VERSION = "2.13"
KAFKA_JAR = f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar"
_MARKER = f".provisioned-kafka_{SCALA_VERSION}-{KAFKA_VERSION}"
_PROVISION_SCRIPT = Path("deploy") / "kafka" / "provision.sh"
_STARTED = "Kafka Server started"
_HOST = "127.0.0.1"

# A C1-only JIT starts the broker about twice as fast on 2 busy cores; tests never need C2's peak speed.
_JVM_OPTIONS = ("-Xmx512m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")

# Single node, broker and controller in one JVM. Thread counts and the 8 MiB cleaner buffer keep the RSS near
# 200 MB; replication factors of 1 because there is one broker; no rebalance delay so a group joins at once.
# After a kill, the restarted broker cannot register until its old session expires (9 s by default): 4 s here.
_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://{host}:{broker_port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{broker_port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers={host}:{controller_port}
log.dirs={log_dir}
num.io.threads=2
num.network.threads=2
log.cleaner.dedupe.buffer.size=8388608
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=4000
"""

# The broker logs through log4j2; without a configuration it prints errors only. INFO to stdout (our log file),
# minus the thousands of lines of configuration dumps.
_LOG4J2_PROPERTIES = """\
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


def _repo_root() -> Path | None:
    """The checkout holding deploy/kafka/provision.sh: above this file (editable install), else above the cwd."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / _PROVISION_SCRIPT).is_file():
                return candidate
    return None


def default_kafka_home() -> Path:
    """`$STRIX_KAFKA_HOME`, else `.ci/cache/kafka` in the repository."""
    configured = os.environ.get("STRIX_KAFKA_HOME")
    if configured:
        return Path(configured)
    root = _repo_root()
    if root is None:
        raise RuntimeError(
            f"cannot find {_PROVISION_SCRIPT} above {Path(__file__)} or {Path.cwd()}; set STRIX_KAFKA_HOME"
        )
    return root / ".ci" / "cache" / "kafka"


def kafka_libs(kafka_home: Path | None = None) -> Path:
    """The directory of Kafka jars, provisioned first (deploy/kafka/provision.sh) when missing."""
    home = (kafka_home or default_kafka_home()).resolve()
    libs = home / "libs"
    if (libs / KAFKA_JAR).is_file() and (libs / _MARKER).is_file():
        return libs
    root = _repo_root()
    if root is None:
        raise RuntimeError(f"Kafka jars missing in {libs} and {_PROVISION_SCRIPT} not found to provision them")
    result = subprocess.run(
        ["bash", str(root / _PROVISION_SCRIPT), str(home)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not (libs / KAFKA_JAR).is_file():
        raise RuntimeError(
            f"{_PROVISION_SCRIPT} failed (exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return libs


def java_binary() -> str:
    """`$JAVA_HOME/bin/java`, else java on PATH; Kafka 4 needs Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("java not found: Kafka needs a Java 17+ runtime on PATH (or JAVA_HOME)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _cluster_id() -> str:
    """A random Kafka cluster id: a UUID in Kafka's form (URL-safe base64 of its 16 bytes, unpadded)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")


def _class_archive(java: str, libs: Path) -> Path:
    """Where the JVM's class-data archive for this java and these jars lives (it cuts ~2 s from a start)."""
    real = Path(java).resolve()
    stat = real.stat()
    jars = sorted(f"{jar.name} {jar.stat().st_size} {jar.stat().st_mtime_ns}" for jar in libs.glob("*.jar"))
    key = "\n".join([str(real), str(stat.st_size), str(stat.st_mtime_ns), *jars])
    return libs.parent / "cds" / f"kafka-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsa"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


_running: set[KafkaBroker] = set()


@atexit.register
def _kill_leftovers() -> None:
    for broker in list(_running):
        broker.kill()


def _archive_options(archive: Path) -> tuple[list[str], Path | None]:
    """JVM options that use the class-data archive, or that write a new one (to a temporary name) at exit."""
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}"], None
    archive.parent.mkdir(parents=True, exist_ok=True)
    new = archive.with_name(f"{archive.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    return [f"-XX:ArchiveClassesAtExit={new}"], new


@dataclass(eq=False)
class KafkaBroker:
    """One running single-node KRaft cluster; `data_dir` holds its configuration, storage and `kafka.log`."""

    host: str
    port: int
    controller_port: int
    data_dir: Path
    java: str
    libs: Path
    archive: Path
    process: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _new_archive: Path | None = field(default=None, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the Kafka broker is not running")
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def create_topic(self, name: str, partitions: int = 1, timeout: float = 30.0) -> None:
        """Create a topic (replication factor 1) and wait until every partition has a leader."""
        create_topic(self.bootstrap_servers, name, partitions, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a controlled shutdown: ~0.5-2.5 s, ~5 s more while the JVM writes its class-data archive),
        then SIGKILL if it takes longer than `timeout`."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL: the broker dies at once, as in a crash (what it acknowledged but did not flush is lost)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._reap()

    def restart(self, timeout: float = 90.0) -> None:
        """Start the stopped or killed broker again on the same ports and storage."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the Kafka broker is still running; stop() or kill() it first")
        self._launch(timeout)

    def _launch(self, timeout: float) -> None:
        options, self._new_archive = _archive_options(self.archive)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                self.java,
                *_JVM_OPTIONS,
                *options,
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
                "-cp",
                f"{self.libs}/*",
                "kafka.Kafka",
                str(self.data_dir / "server.properties"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
        )
        _running.add(self)
        failure = self._wait_started(offset, time.monotonic() + timeout)
        if failure is not None:
            self.kill()
            raise RuntimeError(f"Kafka broker did not start ({failure}); log {self.log_path}:\n{self.log_tail()}")

    def _wait_started(self, offset: int, deadline: float) -> str | None:
        """None once the broker logged that it started and accepts connections; else why it did not."""
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"java exited with {self.process.returncode}"
            with self.log_path.open("rb") as log:
                log.seek(offset)
                started = _STARTED.encode() in log.read()
            if started:
                with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1):
                    return None
            time.sleep(0.05)
        return "timed out"

    def _reap(self) -> None:
        _running.discard(self)
        if self.process is None:
            return
        self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        new, self._new_archive = self._new_archive, None
        if new is None:
            return
        # The JVM writes its class-data archive as it exits; keep it only after a clean stop.
        if self.process.returncode in (0, 143, -signal.SIGTERM) and new.is_file() and new.stat().st_size > 0:
            new.replace(self.archive)
            for stale in self.archive.parent.glob("kafka-*.jsa"):
                if stale != self.archive:
                    stale.unlink(missing_ok=True)  # for older jars or another java; a running JVM keeps its map
        else:
            new.unlink(missing_ok=True)


def _format_storage(java: str, libs: Path, archive: Path, run_dir: Path) -> None:
    options = [f"-XX:SharedArchiveFile={archive}"] if archive.is_file() else []
    command = [java, *_JVM_OPTIONS, *options, "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format"]
    # `--cluster-id=<id>`: an id may start with "-" (1 in 64 do), which the parser would read as an option.
    command += [f"--cluster-id={_cluster_id()}", "-c", str(run_dir / "server.properties"), "--standalone"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=run_dir)
    log_path = run_dir / "format.log"
    log_path.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        raise RuntimeError(f"Kafka storage format failed (exit {result.returncode}):\n{_tail(log_path)}")


def start_kafka(
    data_dir: Path, kafka_home: Path | None = None, timeout: float = 90.0, attempts: int = 3
) -> KafkaBroker:
    """Format a fresh single-node KRaft cluster in a new directory under `data_dir`, start it, and return once
    it accepts connections. Provisions the jars first when they are missing."""
    libs = kafka_libs(kafka_home)
    java = java_binary()
    archive = _class_archive(java, libs)
    data_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for _ in range(max(attempts, 1)):
        # A new directory per attempt: --standalone writes the controller's address into the storage.
        run_dir = Path(tempfile.mkdtemp(prefix="kafka-", dir=data_dir))
        broker_port, controller_port = _free_port(), _free_port()
        while controller_port == broker_port:
            controller_port = _free_port()
        (run_dir / "server.properties").write_text(
            _SERVER_PROPERTIES.format(
                host=_HOST, broker_port=broker_port, controller_port=controller_port, log_dir=run_dir / "data"
            ),
            encoding="utf-8",
        )
        (run_dir / "log4j2.properties").write_text(_LOG4J2_PROPERTIES, encoding="utf-8")
        _format_storage(java, libs, archive, run_dir)
        broker = KafkaBroker(_HOST, broker_port, controller_port, run_dir, java, libs, archive)
        try:
            broker._launch(timeout)
        except RuntimeError as error:
            failures.append(str(error))
            if "Address already in use" not in broker.log_path.read_text(encoding="utf-8", errors="replace"):
                break  # only a port taken between picking and binding is worth another try
        else:
            return broker
    raise RuntimeError("\n\n".join(failures))


def create_topic(bootstrap_servers: str, name: str, partitions: int = 1, timeout: float = 30.0) -> None:
    """Create a topic (replication factor 1) and wait until every partition has a leader."""
    # Imported here: only tests that talk to Kafka need confluent-kafka.
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout)
    deadline = time.monotonic() + timeout
    while True:
        topic = admin.list_topics(name, timeout=max(deadline - time.monotonic(), 0.1)).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {name} has no leader for every partition after {timeout} s: {topic}")
        time.sleep(0.05)


class RedpandaBroker:
    """Redpanda in a container (testcontainers), where a Docker engine runs: the same tests, the production
    broker. Same surface as KafkaBroker for what tests use."""

    def __init__(self, image: str = "docker.redpanda.com/redpandadata/redpanda:v24.2.7") -> None:
        from testcontainers.community.kafka import RedpandaContainer

        self.container = RedpandaContainer(image)
        self.container.start()
        self.bootstrap_servers: str = self.container.get_bootstrap_server()

    def create_topic(self, name: str, partitions: int = 1, timeout: float = 30.0) -> None:
        create_topic(self.bootstrap_servers, name, partitions, timeout)

    def stop(self) -> None:
        self.container.stop()


def docker_available() -> bool:
    """Whether a Docker engine answers (the client alone is not enough: this machine has no engine)."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
