"""Lambda layers: the domain library, AWS's Powertools layer and the pip-built dependency layers.

The dependency layers (`layers/<name>/requirements.txt`) hold wheels (numpy, pyarrow, onnxruntime and
cryptography are compiled) for the Lambda platform: Linux, arm64, CPython 3.12. `cdk deploy` (and a
`cdk synth` that does not skip bundling) builds them with pip on this machine, which needs PyPI access and
no Docker; when pip is missing it falls back to the SAM build image in Docker. Tests synthesize with bundling
skipped (context `aws:cdk:bundling-stacks=[]`), so they stay offline and fast.

Lambda allows 250 MB unzipped per function, layers included, so each dependency layer is trimmed of what a
function never imports: test suites, C headers and Cython sources, Arrow Flight (RPC) and Arrow's native S3
filesystem (the platform reads S3 through boto3), duplicate unversioned shared objects and console scripts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.config import POWERTOOLS_PACKAGE, pinned_version, powertools_layer_parameter

LAYERS_DIR = spec.REPO_ROOT / "layers"
# data: pyarrow, numpy; inference: onnxruntime, numpy; tokens: PyJWT + cryptography (compiled) for the
# authorizer; pii: phonenumbers + python-stdnum (pure Python) for the chat function's redaction.
DEPENDENCY_LAYERS = ("data", "inference", "tokens", "pii")
ARCHITECTURE = lambda_.Architecture.ARM_64
RUNTIME = lambda_.Runtime.PYTHON_3_12
# numpy >= 2.3 publishes aarch64 wheels only as manylinux_2_28, tokenizers and rjieba only as manylinux_2_17
# (manylinux2014). Lambda's python3.12 runtime (Amazon Linux 2023, glibc 2.34) runs both; pip does not widen
# one --platform to older glibc tags, so each is listed.
PIP_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
SAM_BUILD_IMAGE = "public.ecr.aws/sam/build-python3.12:latest-arm64"

# Paths (globs relative to the layer's python/ folder) that no function imports.
TRIM_PATTERNS = (
    "bin",
    "**/__pycache__",
    "**/tests",
    "**/*.pyx",
    "**/*.pxd",
    "pyarrow/include",
    "pyarrow/src",
    "pyarrow/*flight*",
    "pyarrow/libarrow_s3.so*",
    "pyarrow/_s3fs*.so",
    "pyarrow/_pyarrow_cpp_tests*",
    # The loader resolves these libraries by their soname (lib*.so.NNNN); the other names are copies.
    "pyarrow/libarrow_python*.so",
    "pyarrow/libarrow_python*.so.*.*",
)


# Optional second file in a layer folder: packages installed without their dependencies. The tokenizers
# wheel depends on huggingface_hub only for `from_pretrained` (downloads from a hub, which a function must
# never do); with it the chat function would pass Lambda's 250 MB limit.
NO_DEPS_REQUIREMENTS = "requirements-nodeps.txt"


def pip_install_command(requirements: str, target: str, *, no_deps: bool = False) -> list[str]:
    return [
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        *(option for platform in PIP_PLATFORMS for option in ("--platform", platform)),
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "--target",
        target,
        *(["--no-deps"] if no_deps else []),
        "-r",
        requirements,
    ]


def trim_layer(python_dir: Path) -> None:
    """Delete everything matching TRIM_PATTERNS under a built layer's python/ folder."""
    for pattern in TRIM_PATTERNS:
        for path in sorted(python_dir.glob(pattern), reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                path.unlink()


def _docker_trim_script() -> str:
    return "shopt -s globstar nullglob && cd /asset-output/python && rm -rf " + " ".join(TRIM_PATTERNS)


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Builds a dependency layer with this machine's pip; returning False hands over to Docker."""

    def __init__(self, requirements: Path) -> None:
        self._requirements = requirements

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        python_dir = Path(output_dir) / "python"
        command = [sys.executable, "-m", *pip_install_command(str(self._requirements), str(python_dir))]
        no_deps = self._requirements.parent / NO_DEPS_REQUIREMENTS
        try:
            subprocess.run(command, check=True)
            if no_deps.exists():
                pip = pip_install_command(str(no_deps), str(python_dir), no_deps=True)
                subprocess.run([sys.executable, "-m", *pip], check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            print(
                f"local pip bundling of {self._requirements} failed ({error}); trying Docker. Offline? "
                "`npx cdk synth -c bundle_layers=false` synthesizes the template without building layers.",
                file=sys.stderr,
            )
            return False
        trim_layer(python_dir)
        return True


def dependency_layer(scope: Construct, name: str) -> lambda_.LayerVersion:
    layer_dir = LAYERS_DIR / name
    requirements = layer_dir / "requirements.txt"
    steps = [" ".join(pip_install_command("requirements.txt", "/asset-output/python"))]
    if (layer_dir / NO_DEPS_REQUIREMENTS).exists():
        no_deps = pip_install_command(NO_DEPS_REQUIREMENTS, "/asset-output/python", no_deps=True)
        steps.append(" ".join(no_deps))
    docker_command = " && ".join([*steps, _docker_trim_script()])
    return lambda_.LayerVersion(
        scope,
        f"{name.capitalize()}Layer",
        description=f"shelfwise {name} dependencies ({', '.join(requirement_names(requirements))})",
        code=lambda_.Code.from_asset(
            str(layer_dir),
            # The pinned requirements fully determine the output, so the hash is taken from the source.
            asset_hash_type=AssetHashType.SOURCE,
            bundling=BundlingOptions(
                image=DockerImage.from_registry(SAM_BUILD_IMAGE),
                command=["bash", "-c", docker_command],
                local=PipLocalBundling(requirements),
            ),
        ),
        compatible_architectures=[ARCHITECTURE],
        compatible_runtimes=[RUNTIME],
    )


def requirement_names(requirements: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return [line for line in lines if line]


class Layers(Construct):
    """Every layer a function can ask for by name in the spec, plus the Powertools layer all of them get."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, lambda_.ILayerVersion] = {
            "domain": lambda_.LayerVersion(
                self,
                "DomainLayer",
                description="shelfwise domain library",
                code=lambda_.Code.from_asset(
                    str(LAYERS_DIR / "domain"), exclude=["**/__pycache__", "**/*.pyc", "*.egg-info"]
                ),
                compatible_architectures=[ARCHITECTURE],
                compatible_runtimes=[RUNTIME],
            )
        }
        for name in DEPENDENCY_LAYERS:
            self.by_name[name] = dependency_layer(self, name)
        # The layer of exactly the Powertools release pyproject.toml pins (and the tests run against):
        # CloudFormation reads its ARN from AWS's public parameter for that release at deploy time.
        self.powertools_version = pinned_version(POWERTOOLS_PACKAGE)
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(
                self, powertools_layer_parameter(self.powertools_version)
            ),
        )

    def for_function(self, fn: spec.Function) -> list[lambda_.ILayerVersion]:
        unknown = [name for name in fn.layers if name not in self.by_name]
        if unknown:
            raise ValueError(
                f"function {fn.name!r} asks for unknown layers {unknown}; known: {sorted(self.by_name)}"
            )
        return [self.powertools, *(self.by_name[name] for name in fn.layers)]
