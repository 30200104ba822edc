# SPDX-License-Identifier: GPL-3.0-or-later
"""A configuration given as a dict, written as the TOML text the engine parses."""
import json
import math
import numbers


def value(v, key="value"):
    """One TOML value (also what --set takes after the '=')."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, str):
        return json.dumps(v)
    if hasattr(v, "__fspath__"):
        return json.dumps(str(v))
    if isinstance(v, (list, tuple)) or hasattr(v, "tolist"):
        items = v.tolist() if hasattr(v, "tolist") else v
        return "[" + ", ".join(value(x, key) for x in items) + "]"
    raise TypeError(f"configuration key '{key}': cannot write a {type(v).__name__} as TOML")


def dumps(config):
    """A dict of the configuration file's structure ({'input': {...}, 'operators': [{...}]})."""
    if not isinstance(config, dict):
        raise TypeError(f"config: expected a TOML file path or a dict, got {type(config).__name__}")
    lines = []

    def table(prefix, d):
        scalars = {k: v for k, v in d.items() if not _is_table(v) and not _is_table_array(v)}
        if prefix and (scalars or not d):
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {value(v, f'{prefix}.{k}' if prefix else k)}")
        for k, v in d.items():
            name = f"{prefix}.{k}" if prefix else k
            if _is_table(v):
                table(name, v)
            elif _is_table_array(v):
                for item in v:
                    lines.append(f"[[{name}]]")
                    for kk, vv in item.items():
                        lines.append(f"{kk} = {value(vv, f'{name}.{kk}')}")

    table("", config)
    return "\n".join(lines) + "\n"


def _is_table(v):
    return isinstance(v, dict)


def _is_table_array(v):
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, dict) for x in v)
