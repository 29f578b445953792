"""A real S3 API (moto's server) running as a separate process on 127.0.0.1, for the integration and e2e tiers.

The server enforces request signing: the fixture creates one IAM user whose key may do anything on S3, and
then switches authentication on, so a wrong key or secret fails as it would on a real store.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]

from retrodiction_harness.ports import free_ports

_REGION = "us-east-1"
_START_TIMEOUT_SECONDS = 30.0
_ALLOW_ALL_S3 = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible endpoint and the credentials it accepts."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = _REGION

    @property
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs storage options for this server (a new dict each time, so callers may change it)."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def client(self) -> Any:
        """A boto3 S3 client signed with the server's valid credentials."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def read_json(self, uri: str) -> dict[str, Any]:
        """The JSON document stored at an s3:// URI (a summary, say), read with the valid credentials."""
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return dict(json.loads(self.client().get_object(Bucket=bucket, Key=key)["Body"].read()))

    def create_bucket(self, prefix: str = "test") -> str:
        """Create a bucket no other test uses and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def _wait_until_answering(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered, which is all we wait for
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {url} within {_START_TIMEOUT_SECONDS}s")


def _create_credentials(endpoint_url: str) -> tuple[str, str]:
    # Runs while the server still accepts unsigned requests; afterwards only the key made here works.
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint_url,
        region_name=_REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    user = "retrodiction-tests"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="s3-all", PolicyDocument=_ALLOW_ALL_S3)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _require_signed_requests(endpoint_url: str) -> None:
    # The count of unsigned requests still allowed; moto reads it from a plain-text body.
    request = urllib.request.Request(
        f"{endpoint_url}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


@contextlib.contextmanager
def running_s3_server(host: str = "127.0.0.1") -> Iterator[S3Server]:
    """A moto S3 server subprocess on a free port of `host` (a loopback address, or the real node's bridge
    address where its pods reach it), stopped on exit."""
    (port,) = free_ports(1)
    endpoint_url = f"http://{host}:{port}"
    with tempfile.TemporaryDirectory(prefix="moto-") as workdir:
        log = Path(workdir) / "moto.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            _wait_until_answering(process, endpoint_url, log)
            access_key, secret_key = _create_credentials(endpoint_url)
            _require_signed_requests(endpoint_url)
            yield S3Server(endpoint_url=endpoint_url, access_key=access_key, secret_key=secret_key)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
