"""Parse a CSV of overdue cases into validated rows, reporting every bad row precisely.

Pure: bytes in, valid cases + row errors (line, column, reason) out. ``CaseCsvReader`` streams a
file of any size in chunks of raw records (bounded memory); ``validate_records`` turns a chunk
into rows; ``parse_cases_csv`` does both for a file held in memory. Storage is
``dialer_core.store.case_import``. Accepted columns (header names, case-insensitive):

    external_id (or case_id), debtor_name (or name), amount, days_past_due (or dpd),
    phone / phones / phone1..phoneN (several numbers in one cell split on ';' '|' or ','),
    product, currency, due_date (YYYY-MM-DD),
    debtor_id (or customer_id): the debtor across cases (several loans, one person),
    tz (IANA zones, ';'-separated) and state (US state code or name): the debtor's address zones
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import BinaryIO, NamedTuple

import phonenumbers
from phonenumbers import PhoneNumber

from dialer_core.compliance.region import US_STATE_ZONES, province_key
from dialer_core.compliance.windows import zone
from dialer_core.config_errors import InputError, RowError
from dialer_core.phone_fast import fast_digits, number_type
from dialer_core.phone_regions import PhoneRegions

REQUIRED = ("external_id", "debtor_name", "amount", "days_past_due")
_ALIASES = {
    "case_id": "external_id",
    "id": "external_id",
    "name": "debtor_name",
    "debtor": "debtor_name",
    "dpd": "days_past_due",
    "amount_owed": "amount",
    "phones": "phone",
    "customer_id": "debtor_id",
    "timezone": "tz",
    "time_zone": "tz",
}
_PHONE_COL = re.compile(r"^(phone|mobile|tel)\d*$")
_PHONE_SPLIT = re.compile(r"[;|,/]")
_ZONE_SPLIT = re.compile(r"[;|]")
_PLAIN_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]{0,2}))?")
MAX_MINOR = (1 << 63) - 1  # cases.amount_minor is a bigint
MAX_DAYS = (1 << 31) - 1  # cases.days_past_due is an integer
MAX_PHONES = 10
# Part of every row digest: bump it when parsing changes what a row becomes, so the next import
# parses rows again instead of skipping them as unchanged.
PARSER_VERSION = 1
SNIFF_BYTES = 1 << 20  # encoding detection looks at the first MiB
CHUNK_ROWS = 10_000


class PhoneRow(NamedTuple):  # named tuples: a million rows are made ~3x faster than dataclasses
    e164: str
    country: str  # ISO 3166 alpha-2
    province: str  # "" when unknown (such a number is kept; the rules report it at dial time)
    city: str


class CaseRow(NamedTuple):
    line: int
    external_id: str
    debtor_name: str
    amount_minor: int
    currency: str
    days_past_due: int
    product: str
    due_date: date | None
    phones: tuple[PhoneRow, ...]
    debtor_id: str = ""  # "" when not given: cases sharing a number are then one debtor
    address_zones: tuple[str, ...] = ()  # zones known from the address (tz / state)


@dataclass(frozen=True)
class ParsedCsv:
    encoding: str
    rows: tuple[CaseRow, ...]
    errors: tuple[RowError, ...]


class CsvFileError(InputError):
    """The file as a whole is unusable (no header, required columns missing)."""


def detect_encoding(data: bytes) -> str:
    """UTF-8, unless most non-ASCII lines fail UTF-8 (then GB18030, a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    utf8_bad = utf8_non_ascii = 0
    for line in data.splitlines():
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8_non_ascii += 1
        except UnicodeDecodeError:
            utf8_bad += 1
    # GBK text is almost never valid UTF-8: a file whose non-ASCII lines mostly fail UTF-8 is
    # GBK; a UTF-8 file with a few broken lines stays UTF-8 and those lines are reported.
    return "gb18030" if utf8_bad > utf8_non_ascii else "utf-8"


def _canonical(header: str) -> str:
    key = header.strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(key, key)


def parse_amount(text: str) -> int:
    """'3,250.50' → 325050 minor units; raises ValueError with the reason."""
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("$", "")
    plain = _PLAIN_AMOUNT.fullmatch(cleaned)
    if plain is not None:  # ASCII digits, at most two decimals: what Decimal would answer
        whole, cents = plain.groups()
        minor = int(whole) * 100 + int((cents or "").ljust(2, "0"))
    else:
        minor = _decimal_minor(text, cleaned)
    if minor > MAX_MINOR:
        raise ValueError(f"amount too large: {text!r}")
    return minor


def _decimal_minor(text: str, cleaned: str) -> int:
    try:
        value = Decimal(cleaned)
        if not value.is_finite():
            raise ValueError(f"not a number: {text!r}")
        if value < 0:
            raise ValueError(f"negative amount {text!r}")
        minor = value * 100
        if minor != minor.to_integral_value():
            raise ValueError(f"more than 2 decimals: {text!r}")
    except ArithmeticError as exc:  # not a number, or an exponent beyond any amount
        raise ValueError(f"not a number: {text!r}") from exc
    if minor > MAX_MINOR:  # before int(): '1e300000' would be an integer of 300,000 digits
        raise ValueError(f"amount too large: {text!r}")
    return int(minor)


def address_zone(text: str) -> str:
    """An IANA zone name from an address column; raises ValueError with the reason."""
    name = text.strip()
    try:
        zone(name)
    except (KeyError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name") from None
    return name


_REGIONS = PhoneRegions()


def parse_phone(text: str, default_country: str, regions: PhoneRegions = _REGIONS) -> PhoneRow:
    """Normalise to E.164 and look up the region; raises ValueError with the reason."""
    stripped = text.strip()
    fast = fast_digits(stripped, default_country)  # bare digits; None: the general parser
    if fast is not None:  # no leading zero, no extension: E.164 is the code and the digits
        region, nsn = fast
        ntype = region.number_type(nsn)
        if ntype == phonenumbers.PhoneNumberType.UNKNOWN:
            raise ValueError(f"invalid phone number {text!r} for {default_country}")
        e164 = f"+{region.cc_text}{nsn}"
        place = regions.direct(region.country_code, ntype, region.code, e164)
        if place is not None:
            return PhoneRow(e164, region.code, *place)
        num = PhoneNumber(country_code=region.country_code, national_number=int(nsn))
    else:
        try:
            num = phonenumbers.parse(stripped, default_country)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"unparseable phone number {text!r} ({exc})") from exc
        ntype = number_type(num)  # UNKNOWN exactly when is_valid_number is false
        if ntype == phonenumbers.PhoneNumberType.UNKNOWN:
            raise ValueError(f"invalid phone number {text!r} for {default_country}")
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    country = phonenumbers.region_code_for_number(num) or ""
    province, city = regions.place(num, ntype, country, e164)
    return PhoneRow(e164, country, province, city)


@dataclass(frozen=True)
class CsvLayout:
    """The header line: original names, canonical names, where the phones are."""

    header: tuple[str, ...]
    columns: tuple[str, ...]
    phone_cols: tuple[int, ...]

    @property
    def id_col(self) -> int:
        return self.columns.index("external_id")

    @property
    def id_header(self) -> str:
        return self.header[self.id_col]


class RawRecord(NamedTuple):
    """One data line as read: its cells and a digest of them (with the header and options).

    Sent to validation workers as a plain tuple (pickled ~10x faster)."""

    line: int
    cells: tuple[str, ...]
    digest: int

    def external_id(self, layout: CsvLayout) -> str:
        """The row's id cell, or "" when the row has the wrong number of fields."""
        if len(self.cells) != len(layout.columns):
            return ""
        return self.cells[layout.id_col].strip()


def _layout(header: list[str]) -> CsvLayout:
    columns = [_canonical(h) for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    phone_cols = [i for i, c in enumerate(columns) if _PHONE_COL.match(c)]
    if missing or not phone_cols:
        need = missing + ([] if phone_cols else ["phone"])
        raise CsvFileError(f"line 1 (header): missing column(s) {', '.join(need)}; got {header}")
    return CsvLayout(tuple(header), tuple(columns), tuple(phone_cols))


class CaseCsvReader:
    """Streams a cases CSV from a binary file: the header at once, then chunks of records.

    Memory is one chunk, whatever the file's size. ``bytes_read`` follows the file for a
    progress bar. The encoding is detected on the first MiB (``encoding="auto"``); a later line
    that does not decode is a row error, as in a file read whole.
    """

    def __init__(
        self,
        stream: BinaryIO,
        *,
        default_country: str = "CN",
        encoding: str = "auto",
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.default_country = default_country
        self.chunk_rows = chunk_rows
        self.bytes_read = 0
        head = stream.read(SNIFF_BYTES)
        head += stream.readline()  # end on a line boundary
        self.encoding = detect_encoding(head) if encoding == "auto" else encoding
        codecs.lookup(self.encoding)  # LookupError for an unknown codec, before any work
        self._bad: dict[int, str] = {}
        self._stream = itertools.chain(io.BytesIO(head), stream)
        self._reader = csv.reader(self._lines())
        try:
            header = next(self._reader)
        except StopIteration as exc:
            raise CsvFileError("empty file: expected a header line") from exc
        if 1 in self._bad:
            raise CsvFileError(f"line 1 (header): {self._bad.pop(1)}")
        self.layout = _layout(header)
        seed = f"{PARSER_VERSION}\x1e{default_country}\x1e" + "\x1f".join(header)
        self._seed = hashlib.blake2b(seed.encode(), digest_size=16).digest()
        self._next_line = 2

    def _lines(self) -> Iterator[str]:
        for number, raw in enumerate(self._stream, start=1):
            self.bytes_read += len(raw)
            try:
                yield raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                self._bad[number] = (
                    f"bad {self.encoding} encoding at byte {exc.start}: "
                    f"{raw[exc.start : exc.start + 4]!r}"
                )
                yield "\n"  # keep csv line numbering; the row is reported, not parsed

    def _digest(self, cells: list[str]) -> int:
        h = hashlib.blake2b(self._seed, digest_size=8)
        h.update("\x1f".join(cells).encode())
        return int.from_bytes(h.digest(), "big", signed=True)

    def chunks(self) -> Iterator[tuple[list[RawRecord], list[RowError]]]:
        """Records and undecodable lines, ``chunk_rows`` records at a time (blank lines skipped)."""
        records: list[RawRecord] = []
        errors: list[RowError] = []
        for cells in self._reader:
            line = self._next_line
            self._next_line = self._reader.line_num + 1
            if line in self._bad:
                errors.append(RowError(line, "*", self._bad.pop(line)))
            elif "".join(cells).strip():  # not blank
                records.append(RawRecord(line, tuple(cells), self._digest(cells)))
            if len(records) >= self.chunk_rows:
                yield records, errors
                records, errors = [], []
        if records or errors:
            yield records, errors


def validate_records(
    layout: CsvLayout, records: Sequence[tuple[int, tuple[str, ...], int]], default_country: str
) -> tuple[list[tuple[CaseRow, int]], list[RowError]]:
    """Each record as a case row (with its digest) or its errors; ids are not compared here."""
    rows: list[tuple[CaseRow, int]] = []
    errors: list[RowError] = []
    for line, cells, digest in records:  # RawRecords or plain (line, cells, digest) tuples
        row, row_errors = _parse_record(
            line, layout.columns, layout.header, layout.phone_cols, cells, default_country
        )
        if row_errors:
            errors.extend(row_errors)
        elif row is not None:
            rows.append((row, digest))
    return rows, errors


def duplicate_error(layout: CsvLayout, line: int, external_id: str, first: int) -> RowError:
    """The error of a row whose external id already appeared on line ``first``."""
    return RowError(
        line, layout.id_header, f"duplicate external id {external_id!r} (first on line {first})"
    )


def parse_cases_csv(
    data: bytes, *, default_country: str = "CN", encoding: str = "auto"
) -> ParsedCsv:
    """Parse a whole file held in memory; valid rows are kept even when other rows are bad."""
    reader = CaseCsvReader(
        io.BytesIO(data),
        default_country=default_country,
        encoding=detect_encoding(data) if encoding == "auto" else encoding,
    )
    rows: list[CaseRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for records, bad in reader.chunks():
        valid, invalid = validate_records(reader.layout, records, default_country)
        errors += bad + invalid
        for row, _ in valid:
            first = seen.setdefault(row.external_id, row.line)
            if first != row.line:
                errors.append(duplicate_error(reader.layout, row.line, row.external_id, first))
            else:
                rows.append(row)
    errors.sort(key=lambda e: e.line)  # stable: one line's errors keep their order
    return ParsedCsv(reader.encoding, tuple(rows), tuple(errors))


def _parse_record(line, columns, header, phone_cols, record, default_country):
    errors: list[RowError] = []
    if len(record) != len(columns):
        return None, [RowError(line, "*", f"expected {len(columns)} fields, got {len(record)}")]
    cell = {c: v.strip() for c, v in zip(columns, record, strict=True)}

    def fail(col: str, reason: str) -> None:
        errors.append(RowError(line, header[columns.index(col)], reason))

    external_id, name = cell["external_id"], cell["debtor_name"]
    if not external_id:
        fail("external_id", "missing external id")
    if not name:
        fail("debtor_name", "missing debtor name")
    amount = 0
    try:
        amount = parse_amount(cell["amount"])
    except ValueError as exc:
        fail("amount", str(exc))
    dpd = 0
    try:
        dpd = int(cell["days_past_due"])
        if not 0 <= dpd <= MAX_DAYS:
            raise ValueError
    except ValueError:
        fail("days_past_due", f"expected a whole number of days ≥ 0, got {cell['days_past_due']!r}")
    due = None
    if cell.get("due_date"):
        try:
            due = date.fromisoformat(cell["due_date"])
        except ValueError:
            fail("due_date", f"expected YYYY-MM-DD, got {cell['due_date']!r}")
    zones: list[str] = []
    for raw in _ZONE_SPLIT.split(cell["tz"]) if cell.get("tz") else ():
        if raw.strip():
            try:
                zones.append(address_zone(raw))
            except ValueError as exc:
                fail("tz", str(exc))
    if cell.get("state"):
        state = province_key(cell["state"])
        if state not in US_STATE_ZONES:
            fail("state", f"unknown US state {cell['state']!r}; expected a code like TX")
        else:
            zones.extend(US_STATE_ZONES[state])
    phones: list[PhoneRow] = []
    numbers: set[str] = set()
    for i in phone_cols:
        if not record[i]:  # an empty cell: nothing to split
            continue
        for raw in _PHONE_SPLIT.split(record[i]):
            if not raw.strip():
                continue
            try:
                phone = parse_phone(raw, default_country)
            except ValueError as exc:
                errors.append(RowError(line, header[i], str(exc)))
                continue
            if phone.e164 not in numbers:
                numbers.add(phone.e164)
                phones.append(phone)
    if not phones and not any(e.column in {header[i] for i in phone_cols} for e in errors):
        errors.append(RowError(line, header[phone_cols[0]], "missing phone number"))
    if len(phones) > MAX_PHONES:
        errors.append(RowError(line, header[phone_cols[0]], f"more than {MAX_PHONES} phones"))
    if errors:
        return None, errors
    return CaseRow(  # positional, in field order (line, external_id, debtor_name, ...)
        line,
        external_id,
        name,
        amount,
        cell.get("currency") or "CNY",
        dpd,
        cell.get("product", ""),
        due,
        tuple(phones),
        cell.get("debtor_id", ""),
        tuple(sorted(set(zones))) if zones else (),
    ), errors
