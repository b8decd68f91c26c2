"""One module per chapter, each registering its exercises with :func:`course.exercise.register`."""
import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
