"""Run-time guards of the script sandbox: budgets for steps, wall-clock time and produced sizes,
attribute access only on plain data, and builtins that refuse arguments which would blow up in C.

`engine.sandbox` rewrites checked code so that every attribute access, operator, comparison, call
result, index, slice, comprehension and f-string passes through a guard. The trace function can only
interrupt between Python-level events, so C-level work is bounded by bounding its inputs: no value
may exceed MAX_LENGTH items or MAX_INT_BITS, a run may produce at most MAX_ALLOCATED items, values
that are compared, sorted or searched may not exceed MAX_EXPANDED nodes (shared references counted
each time: `[big] * n` is n times big to C), dict keys are plain values (no crafted deep hashing),
and dict() inserts in a loop that watches the clock (no quadratic hash-collision insert in one call).
Decimals are bounded the same way: at most MAX_DECIMAL_DIGITS significant digits and an adjusted exponent
within MAX_DECIMAL_EXPONENT, finite, wherever one is built, computed with or stored (`pow()` of a
16,000-digit Decimal to a fractional power is one C call of many seconds; one of 800 digits takes
milliseconds), and scripts compute under DECIMALS, whose exponent range is the same.

One command (a task completion, a message, a timer sweep of one RMA...) runs under a CommandBudget on
top: its engine steps, the seconds all its scripts take together and the tasks it creates are capped
(engine.execution.runtime rolls a command that goes over back and opens an incident).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import operator
import threading
import time
from collections import OrderedDict
from decimal import Decimal

SOURCE_NAME = "<bpmn>"
MAX_STEPS = 20_000
MAX_SECONDS = 2.0
MAX_LENGTH = 100_000  # characters or items in one produced value
MAX_ALLOCATED = 2_000_000  # characters or items produced over one run
MAX_INT_BITS = 8_192  # ~2,466 digits: under Python's int/str conversion limit
MAX_INT_DIGITS = 2_400  # largest Decimal (by exponent) that int()/round()/ceil() may expand
MAX_DECIMAL_DIGITS = 800  # significant digits of a Decimal: pow() to a fractional power is cubic in them
MAX_DECIMAL_EXPONENT = MAX_INT_DIGITS  # |adjusted exponent| of a Decimal
MAX_POWER_EXPONENT = 64
MAX_SEQUENCE_REPEAT = 10_000
MAX_DATA_DEPTH = 32
MAX_DATA_NODES = 500_000  # nodes of all task data a script leaves behind, shared references expanded
MAX_EXPANDED = 200_000  # nodes of a value compared, sorted or searched, shared references expanded
MAX_KEY_ITEMS = 16  # a tuple used as a dict key or index holds at most this many plain values


class SandboxViolation(Exception):
    """Code uses something the sandbox refuses."""


class BudgetExceeded(Exception):
    """A command went over its CommandBudget (engine.execution.runtime rolls it back)."""


# The arithmetic context scripts run under: the default precision, traps on invalid operations, division
# by zero and overflow, and an exponent range no wider than MAX_DECIMAL_EXPONENT.
DECIMALS = decimal.Context(
    prec=28,
    Emax=MAX_DECIMAL_EXPONENT,
    Emin=-MAX_DECIMAL_EXPONENT,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


SEQUENCES = (str, bytes, list, tuple)
DATA_LEAVES = (str, int, float, bool, type(None), Decimal, _dt.date, _dt.datetime, _dt.time, _dt.timedelta)
SCALARS = DATA_LEAVES
DICTS = (dict, OrderedDict)
CONTAINERS = (list, tuple, set, frozenset, dict, OrderedDict)
_TEXT = ("lower", "upper", "strip", "startswith", "endswith", "split", "join", "replace", "count", "index")
_DATE = ("year", "month", "day", "isoformat")
# Attributes scripts may read, by the exact type of the receiver: nothing on functions, types,
# modules, iterators or any other object, so an allowed name like `get` never reaches `os.environ.get`.
METHODS: dict[type, frozenset[str]] = {
    str: frozenset(_TEXT),
    list: frozenset({"append", "count", "index"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "keys", "values", "items"}),
    OrderedDict: frozenset({"get", "keys", "values", "items"}),
    _dt.date: frozenset(_DATE),
    _dt.datetime: frozenset(_DATE),
    Decimal: frozenset({"quantize"}),
}
# A task-data key named `typename` breaks SpiffWorkflow's deserialization: refused wherever data enters.
RESERVED_KEYS = frozenset({"typename"})
_OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


def check_length(n: int, what: str = "value") -> None:
    if n > MAX_LENGTH:
        raise SandboxViolation(f"{what} of {n} items is over the limit of {MAX_LENGTH}")


def check_int(value: int) -> None:
    if value.bit_length() > MAX_INT_BITS:
        raise SandboxViolation(f"integer of {value.bit_length()} bits is over the limit of {MAX_INT_BITS}")


def check_decimal(value: Decimal, what: str = "a number") -> Decimal:
    """Refuse a Decimal that is not finite (NaN, sNaN, Infinity) or too long or too large for C to compute
    with quickly; returns it unchanged."""
    if not value.is_finite():
        raise SandboxViolation(f"{what} is {value}, which is not a finite number")
    digits = len(value.as_tuple().digits)
    if digits > MAX_DECIMAL_DIGITS:
        raise SandboxViolation(f"{what} has {digits} digits, over the limit of {MAX_DECIMAL_DIGITS}")
    if abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise SandboxViolation(f"{what} has the exponent {value.adjusted()}, over the limit of {MAX_DECIMAL_EXPONENT}")
    return value


def safe_decimal(value: object = "0") -> Decimal:
    """Decimal(value), refused unless the number it makes is finite and within the Decimal bounds."""
    if isinstance(value, str) and len(value) > MAX_LENGTH:
        check_length(len(value), "text")
    return check_decimal(Decimal(value))  # type: ignore[arg-type]  # Decimal() refuses what it cannot read


def footprint(value) -> int:
    """Items a produced value holds, counting the characters of strings directly inside it."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, DICTS):
        return len(value) + sum(len(x) for x in (*value.keys(), *value.values()) if isinstance(x, (str, bytes)))
    if isinstance(value, (list, tuple, set, frozenset)):
        return len(value) + sum(len(x) for x in value if isinstance(x, (str, bytes)))
    return 0


def check_rendered(value, spec: str = "") -> None:
    """Refuse turning `value` into text when the text would be too long (walks without recursion)."""
    total, stack, fixed = 0, [value], spec[-1:] in ("f", "F", "%")
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + 2
        elif isinstance(item, DICTS):
            total += 2 + 2 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, Decimal):
            digits = len(item.as_tuple().digits) if item.is_finite() else 3
            total += digits + (abs(item.adjusted()) if fixed and item.is_finite() else 8)
        else:
            total += 40
        if total > MAX_LENGTH:
            raise SandboxViolation(f"the text of this value would be over the limit of {MAX_LENGTH} characters")


def _check_decimal_to_int(value) -> None:
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_INT_DIGITS:
        raise SandboxViolation(f"turning a number with {value.adjusted() + 1} digits into an integer is not allowed")


def _check_multiply(a, b) -> None:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, SEQUENCES) and isinstance(n, int):
            if n > MAX_SEQUENCE_REPEAT:
                raise SandboxViolation(f"repeating a sequence {n} times is over the limit of {MAX_SEQUENCE_REPEAT}")
            check_length(len(seq) * max(n, 0), "repeated sequence")
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise SandboxViolation(f"integer product would be over the limit of {MAX_INT_BITS} bits")


def check_power(base, exp) -> None:
    for operand in (base, exp):
        if isinstance(operand, Decimal):
            check_decimal(operand)
    if isinstance(exp, (int, float)) and abs(exp) > MAX_POWER_EXPONENT:
        raise SandboxViolation(f"exponent {exp} is too large")
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and base.bit_length() * exp > MAX_INT_BITS:
        raise SandboxViolation(f"power would be over the limit of {MAX_INT_BITS} bits")


def script_clock() -> float:
    """The clock scripts are timed by: the CPU time of the running thread. A script's limit is what it computes,
    not how long a loaded machine (other workers, the database, a browser) keeps it waiting for a core or the
    GIL: a cheap script never fails for the load, and a runaway burns CPU and is stopped all the same (scripts
    cannot sleep or wait on anything)."""
    return time.thread_time()


class Budget:
    """The limits of one run: the trace function counts steps and watches the clock, guards count sizes."""

    def __init__(self, steps: int = MAX_STEPS, seconds: float = MAX_SECONDS, allocated: int = MAX_ALLOCATED):
        self.steps_left = steps
        # within a command, a script may also run only as long as the command's scripts have left
        self.command: CommandBudget | None = getattr(_command, "budget", None)
        self.cut_short = self.command is not None and self.command.seconds_left < seconds
        if self.command is not None:
            seconds = min(seconds, self.command.seconds_left)
        self.started = script_clock()
        self.deadline = self.started + seconds
        self.allocation_left = allocated
        self.guards = {
            "_sb_attr": self.attr,
            "_sb_binop": self.binop,
            "_sb_size": self.size,
            "_sb_fmt": self.fmt,
            "_sb_deep": check_deep,
            "_sb_key": check_key,
        }

    def trace(self, frame, event, arg):
        if script_clock() > self.deadline:
            raise self.late()
        if frame.f_code.co_filename != SOURCE_NAME:
            return None  # calls into helpers and guards are watched by the clock, not counted as steps
        self.steps_left -= 1
        if self.steps_left < 0:
            raise SandboxViolation(f"script exceeded {MAX_STEPS} steps")
        return self.trace

    def size(self, value):
        """Check and account a value the script produced; returns it unchanged."""
        if isinstance(value, int):
            check_int(value)
            return value
        if isinstance(value, Decimal):
            return check_decimal(value)
        n = footprint(value)
        if n:
            if isinstance(value, (str, bytes)):
                check_length(n, "text")
            else:
                check_length(len(value), type(value).__name__)
            self.allocation_left -= n
            if self.allocation_left < 0:
                raise SandboxViolation(f"script produced more than {MAX_ALLOCATED} items in total")
        return value

    def attr(self, obj, name: str):
        """`obj.name` for plain data only, and only the whitelisted names of its type."""
        kind = type(obj)
        if name not in METHODS.get(kind, ()):
            raise SandboxViolation(f"'.{name}' is not allowed on a {kind.__name__} value")
        if kind is Decimal:
            check_decimal(obj)
        if kind is str and name in ("join", "replace"):
            return (_guarded_join if name == "join" else _guarded_replace)(obj)
        if kind in (list, tuple) and name in ("count", "index"):
            return _searching(obj, getattr(obj, name))
        if kind in DICTS and name == "get":
            return _keyed(obj.get)
        return getattr(obj, name)

    def binop(self, op: str, a, b):
        for operand in (a, b):
            if isinstance(operand, Decimal):
                check_decimal(operand)
        if op == "*":
            _check_multiply(a, b)
        elif op == "+" and isinstance(a, SEQUENCES) and isinstance(b, SEQUENCES):
            check_length(len(a) + len(b), "joined sequence")
        elif op == "**":
            check_power(a, b)
        elif op == "%" and isinstance(a, (str, bytes)):
            raise SandboxViolation("'%' formatting of text is not allowed; use an f-string")
        return self.size(_OPERATORS[op](a, b))

    def fmt(self, value, spec: str):
        check_rendered(value, spec)
        return value

    def late(self) -> Exception:
        """The error for a script past its deadline: its own limit, or what its command had left."""
        if self.cut_short and self.command is not None:
            return self.command.exceed(f"its scripts ran longer than {self.command.script_seconds} seconds in all")
        return SandboxViolation(f"script ran longer than {MAX_SECONDS} seconds")

    def __enter__(self):
        self._outer, _active.budget = getattr(_active, "budget", None), self
        return self

    def __exit__(self, *exc):
        _active.budget = self._outer
        if self.command is not None and self._outer is None:  # a nested run is inside its outer one's time
            self.command.spend_script_time(script_clock() - self.started)


_active = threading.local()


def tick() -> None:
    """Watch the clock from inside a guard's own loop (the trace function only sees calls)."""
    budget = getattr(_active, "budget", None)
    if budget is not None and script_clock() > budget.deadline:
        raise budget.late()


class CommandBudget:
    """What one command may spend in all: engine steps, seconds of script time and tasks created.

    `with CommandBudget(...) as budget:` around the command (engine.execution.runtime); the engine reports
    each step with the element it runs (`step`), the sandbox each script's time, and the workflows' task
    tables each task created (`task_created`). Going over raises BudgetExceeded and leaves `exceeded` set, so the
    runtime recognises it however SpiffWorkflow wrapped it on the way out."""

    def __init__(self, steps: int, script_seconds: float, tasks: int):
        self.steps, self.script_seconds, self.tasks = steps, script_seconds, tasks
        self.steps_left, self.seconds_left, self.tasks_left = steps, script_seconds, tasks
        self.element: str | None = None  # the BPMN element the engine runs now
        self.exceeded: str | None = None  # why the command went over

    def step(self, element: str | None) -> None:
        self.element = element or self.element
        self.steps_left -= 1
        if self.steps_left < 0:
            raise self.exceed(f"the command ran more than {self.steps} engine steps")

    def spend_script_time(self, seconds: float) -> None:
        self.seconds_left -= seconds
        if self.seconds_left <= 0 and self.exceeded is None:
            raise self.exceed(f"its scripts ran longer than {self.script_seconds} seconds in all")

    def task_created(self) -> None:
        self.tasks_left -= 1
        if self.tasks_left < 0:
            raise self.exceed(f"the command created more than {self.tasks} tasks")

    def exceed(self, why: str) -> BudgetExceeded:
        self.exceeded = self.exceeded or why
        return BudgetExceeded(self.exceeded)

    def __enter__(self) -> CommandBudget:
        self._outer, _command.budget = getattr(_command, "budget", None), self
        return self

    def __exit__(self, *exc) -> None:
        _command.budget = self._outer


_command = threading.local()


def current_command() -> CommandBudget | None:
    """The budget of the command running on this thread, if any."""
    return getattr(_command, "budget", None)


def check_deep(value):
    """Refuse comparing, sorting or searching a value whose nodes, with shared references expanded,
    exceed MAX_EXPANDED: C code would walk all of them in one uninterruptible call."""
    if isinstance(value, SCALARS):
        return value
    stack, nodes = [value], 0
    while stack:
        item = stack.pop()
        nodes += 1
        if nodes > MAX_EXPANDED:
            raise SandboxViolation(f"value is too large to compare or search (over {MAX_EXPANDED} items)")
        if isinstance(item, DICTS):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset, range, *_VIEWS)):
            stack.extend(item)
        elif not isinstance(item, SCALARS) and hasattr(item, "__iter__") and not isinstance(item, (str, bytes)):
            # an iterator would be used up by looking at it
            raise SandboxViolation(f"a {type(item).__name__} cannot be compared or searched; make it a list")
    return value


_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))


def check_key(key):
    """Dict keys, set items and indexes are plain values or short tuples of them: hashing and
    comparing them stays cheap whatever the script built."""
    if isinstance(key, SCALARS):
        return key
    if type(key) is tuple and len(key) <= MAX_KEY_ITEMS and all(isinstance(k, SCALARS) for k in key):
        return key
    raise SandboxViolation(f"a {type(key).__name__} cannot be used as a key or index here")


def _searching(seq, method):
    def search(*args):
        check_deep(seq)
        for arg in args:
            check_deep(arg)
        return method(*args)

    return search


def _keyed(get):
    def keyed_get(key, default=None):
        return get(check_key(key), default)

    return keyed_get


def _checked_key(key):
    if key is None:
        return None

    def checked(item):
        return check_deep(key(item))

    return checked


def _ordering(builtin):
    def ordered(*args, **kwargs):
        if len(args) == 1 and not isinstance(args[0], CONTAINERS):
            args = (list(args[0]),)
        for arg in args:
            check_length(len(arg) if isinstance(arg, CONTAINERS) else 1, "sequence")
            check_deep(arg)
        if "key" in kwargs:
            kwargs["key"] = _checked_key(kwargs["key"])
        return builtin(*args, **kwargs)

    ordered.__name__ = builtin.__name__
    return ordered


safe_sorted, safe_min, safe_max = _ordering(sorted), _ordering(min), _ordering(max)


def safe_dict(*args, **kwargs):
    """dict() that inserts in a loop it can interrupt: crafted keys with equal hashes make C's
    insertion quadratic."""
    if len(args) > 1:
        raise TypeError(f"dict expected at most 1 argument, got {len(args)}")
    pairs = (list(args[0].items()) if isinstance(args[0], DICTS) else list(args[0])) if args else []
    check_length(len(pairs), "dict")
    result = {}
    for i, pair in enumerate(pairs):
        if i % 256 == 0:
            tick()
        key, value = pair
        result[check_key(key)] = value
    result.update(kwargs)
    return result


def _guarded_join(sep: str):
    def join(items):
        items = list(items)
        check_length(len(items), "joined items")
        check_length(len(sep) * max(len(items) - 1, 0) + sum(len(i) for i in items if isinstance(i, str)), "text")
        return sep.join(items)

    return join


def _guarded_replace(text: str):
    def replace(old, new, count=-1):
        if isinstance(old, str) and isinstance(new, str) and isinstance(count, int):
            n = text.count(old) if old else len(text) + 1
            n = n if count < 0 else min(n, count)
            check_length(len(text) + n * max(len(new) - len(old), 0), "text")
        return text.replace(old, new, count)

    return replace


def check_data(values: dict) -> None:
    """Refuse values a script would leave in task data unless they are plain, bounded, storable data:
    text keys, no reserved keys, limited depth, and few enough nodes (shared references expanded)."""
    nodes = 0
    for name, value in values.items():
        stack = [(value, 0)]
        while stack:
            item, depth = stack.pop()
            nodes += 1
            if depth > MAX_DATA_DEPTH or nodes > MAX_DATA_NODES:
                raise SandboxViolation(f"'{name}' is nested too deeply or too large to store")
            if type(item) in DICTS:
                for key, sub in item.items():
                    if type(key) is not str:
                        raise SandboxViolation(f"'{name}' has a {type(key).__name__} key; task data keys are text")
                    if key in RESERVED_KEYS:
                        raise SandboxViolation(f"'{name}' uses the reserved key '{key}'")
                    stack.append((sub, depth + 1))
            elif type(item) in (list, tuple, set, frozenset):
                stack.extend((sub, depth + 1) for sub in item)
            elif type(item) not in DATA_LEAVES:
                raise SandboxViolation(f"'{name}' holds a {type(item).__name__}, which is not plain data")
            elif type(item) is Decimal:
                check_decimal(item, f"'{name}'")
            elif type(item) is float and not math.isfinite(item):
                raise SandboxViolation(f"'{name}' is {item}, which is not a finite number")


# Builtins that would otherwise turn a small input into a huge amount of C-level work.
def safe_range(*args):
    try:
        r = range(*args)
        n = len(r)
    except OverflowError:
        n = MAX_STEPS + 1
    if n > MAX_STEPS:
        raise SandboxViolation(f"a range that long is more than the {MAX_STEPS} steps a script may take")
    return r


def safe_round(number, ndigits=None):
    if ndigits is None:
        _check_decimal_to_int(number)
        return round(number)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_POWER_EXPONENT:
        raise SandboxViolation(f"round() to {ndigits} digits is not allowed")
    return round(number, ndigits)


def safe_int(*args):
    if args:
        _check_decimal_to_int(args[0])
    return int(*args)


def safe_sum(iterable, start=0):
    if not isinstance(start, (int, float, Decimal)):
        raise SandboxViolation("sum() may only add numbers")
    return sum(iterable, start)


def safe_str(*args):
    if len(args) == 1:
        check_rendered(args[0])
    return str(*args)


def safe_ceil(x):
    _check_decimal_to_int(x)
    return math.ceil(x)


def safe_floor(x):
    _check_decimal_to_int(x)
    return math.floor(x)


def safe_pow(base, exp, mod=None):
    check_power(base, exp)
    return pow(base, exp, mod) if mod is not None else base**exp
