"""Command lines parsed the way Go's pflag parses them (what kubeadm, kubectl and helm use).

--name=value, --name value, -n value, -nvalue, --bool, --bool=false, repeated list flags,
and "--" ending the flags. An unknown flag is an error, as with the real tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from standin.host import Failure


@dataclass(frozen=True)
class Flag:
    name: str
    kind: str = "str"  # str | bool | int | list (comma-split) | array (as given)
    short: str = ""
    default: Any = None


def parse(argv: list[str], flags: list[Flag], *, command: str) -> tuple[dict[str, Any], list[str]]:
    """(values by flag name, positional arguments); Failure on anything pflag would refuse."""
    by_long = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    values: dict[str, Any] = {f.name: ([] if f.kind in ("list", "array") else f.default)
                             for f in flags}
    positional: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            positional.extend(argv[index:])
            break
        if arg.startswith("--"):
            name, equals, value = arg[2:].partition("=")
            flag = by_long.get(name)
            if flag is None:
                raise Failure(f"Error: unknown flag: --{name}\nSee '{command} --help' for usage.")
            text: str | None = value if equals else None
        elif arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit():
            flag = by_short.get(arg[1])
            if flag is None:
                raise Failure(f"Error: unknown shorthand flag: '{arg[1]}' in {arg}\n"
                              f"See '{command} --help' for usage.")
            rest = arg[2:].removeprefix("=")
            text = rest or None
        else:
            positional.append(arg)
            continue
        if flag.kind == "bool":
            if text is None:
                values[flag.name] = True
            elif text in ("true", "false"):
                values[flag.name] = text == "true"
            else:
                raise Failure(f'Error: invalid argument "{text}" for "--{flag.name}" flag: '
                              f'strconv.ParseBool: parsing "{text}": invalid syntax')
            continue
        if text is None:
            if index >= len(argv):
                raise Failure(f"Error: flag needs an argument: --{flag.name}")
            text = argv[index]
            index += 1
        if flag.kind == "array":
            values[flag.name].append(text)
        elif flag.kind == "list":
            values[flag.name].extend(part for part in text.split(",") if part)
        elif flag.kind == "int":
            try:
                values[flag.name] = int(text)
            except ValueError:
                raise Failure(f'Error: invalid argument "{text}" for "--{flag.name}" flag: '
                              f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
        else:
            values[flag.name] = text
    return values, positional
