"""One ``get``/``serialize``/``deserialize`` scheme for every registry of named objects.

Configs name classes through fixed registries (never module paths), so loading a saved
model can construct only classes that fastnn itself registered.  An unknown name is
refused with the registry's choices and the closest one (``naming.did_you_mean``).
"""

from .naming import did_you_mean


def serialize(obj):
    """``{"class_name": ..., "config": ...}`` for an object with ``get_config``."""
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize(spec, registry, kind):
    """Build an object from ``serialize``'s dict using ``registry`` (name -> class)."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(
            f"Expected a {kind} config dict with 'class_name' and 'config'. Received: {spec!r}"
        )
    name = spec["class_name"]
    cls = registry.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown {kind} {name!r}: expected one of {', '.join(sorted(registry))}."
            f"{did_you_mean(name, registry)}"
        )
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"Expected the {kind} config to be a dict. Received: {config!r}")
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)


def get(identifier, registry, aliases, kind, instance_type):
    """Resolve a string, a config dict, or an instance into an instance.

    ``aliases`` maps lower-case strings to classes (instantiated with no arguments).
    """
    if isinstance(identifier, instance_type):
        return identifier
    if isinstance(identifier, str):
        cls = aliases.get(identifier.lower()) or registry.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown {kind}: expected one of {', '.join(sorted(aliases))}."
                f"{did_you_mean(identifier, list(aliases) + list(registry))} "
                f"Received: {kind}={identifier!r}"
            )
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier, registry, kind)
    raise TypeError(
        f"Could not interpret {kind} identifier: expected a string, a dict or a "
        f"{instance_type.__name__}. Received: {identifier!r}"
    )
