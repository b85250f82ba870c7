"""Writes the dbt seed of exchange sessions (dbt_stocks/seeds/trading_sessions.csv).

Run through ``deno task calendar``, which creates its virtualenv
(``.venv-calendar``, from the pinned ``requirements-calendar.txt``) first.
The sessions come from the maintained ``exchange_calendars`` library, never
from hand-written dates: one row per session of each exchange in EXCHANGES,
with its open and close in UTC (no time zone) and whether it closes early.

    python scripts/trading_calendar.py [--start 2000-01-01] [--end 2027-12-31] [--out PATH]
"""

import argparse
import csv
import pathlib

import exchange_calendars

#: The exchanges with sessions, by their ISO 10383 code (the seed
#: exchange_symbols maps symbols to them). 24-hour venues (the crypto
#: exchanges) have no sessions and are not listed.
EXCHANGES = ["XNYS"]

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent.parent / "dbt_stocks" / "seeds" / "trading_sessions.csv"


def sessions(exchange: str, start: str, end: str):
    calendar = exchange_calendars.get_calendar(exchange, start=start, end=end)
    schedule = calendar.schedule.loc[start:end]
    early = set(calendar.early_closes)
    for session, row in schedule.iterrows():
        yield {
            "exchange": exchange,
            "trading_date": session.strftime("%Y-%m-%d"),
            "open_utc": row["open"].tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S"),
            "close_utc": row["close"].tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S"),
            "early_close": "true" if session in early else "false",
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2000-01-01")
    parser.add_argument("--end", default="2027-12-31")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rows = [row for exchange in EXCHANGES for row in sessions(exchange, args.start, args.end)]
    with args.out.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} sessions written to {args.out}")


if __name__ == "__main__":
    main()
