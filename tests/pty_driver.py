"""Runs a command in a pseudo-terminal, as a person at a terminal runs it.

The command is the session leader of a new terminal, so a Ctrl-C typed into
it reaches the terminal's foreground process group exactly as a key press
does: the line discipline turns the byte 0x03 into SIGINT for every process
in that group (for `deno task x`, the task runner and the script it runs).

Usage: python3 pty_driver.py COMMAND [ARGS...]
- What the terminal shows is copied to stdout (carriage returns removed).
- Each line "ctrl-c" read on stdin types a Ctrl-C.
- Exits with the command's exit code, or 128 + the signal that ended it.
"""

import os
import pty
import select
import sys


def main() -> int:
    pid, terminal = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[1], sys.argv[1:])
    commands = sys.stdin.fileno()
    reading = [terminal, commands]
    pending = b""
    while terminal in reading:
        ready, _, _ = select.select(reading, [], [])
        if terminal in ready:
            try:
                data = os.read(terminal, 65536)
            except OSError:  # EIO: the terminal's last process has gone
                data = b""
            if not data:
                reading.remove(terminal)
            else:
                sys.stdout.buffer.write(data.replace(b"\r", b""))
                sys.stdout.buffer.flush()
        if commands in ready:
            data = os.read(commands, 1024)
            if not data:
                reading.remove(commands)
                continue
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip() == b"ctrl-c":
                    os.write(terminal, b"\x03")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
