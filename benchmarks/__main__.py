"""List the benchmarks."""

import pkgutil

import benchmarks

print("benchmarks (run one with python -m benchmarks.NAME):")
for module in pkgutil.iter_modules(benchmarks.__path__):
    if not module.name.startswith("_"):
        print(f"  {module.name}")
