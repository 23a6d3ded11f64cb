"""Maps the root folders collector/, parsers/ and timelines/ into the single import package `mlsleuth`.

PyPI already has top-level `collector` and `timelines`, so they install as mlsleuth.collector etc.
Subpackages are discovered here so that adding one never means editing the build configuration.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
ROOTS = {"mlsleuth": "mlsleuth", "mlsleuth.collector": "collector", "mlsleuth.parsers": "parsers",
         "mlsleuth.timelines": "timelines"}

packages: list[str] = []
package_dir: dict[str, str] = {}
for name, folder in ROOTS.items():
    packages.append(name)
    package_dir[name] = folder
    for sub in find_packages(where=str(HERE / folder)):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"": ["*.yaml", "*.yml", "*.json", "*.txt", "*.yar", "*.md"]},
    include_package_data=True,
)
