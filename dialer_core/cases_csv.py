"""Parse a CSV of overdue cases into validated rows, reporting every bad row precisely.

Pure: bytes in, ``ParsedCsv`` out (valid cases + row errors with line, column and reason).
Storage is ``dialer_core.store.cases``. Accepted columns (header names, case-insensitive):

    external_id (or case_id), debtor_name (or name), amount, days_past_due (or dpd),
    phone / phones / phone1..phoneN (several numbers in one cell split on ';' '|' or ','),
    product, currency, due_date (YYYY-MM-DD),
    debtor_id (or customer_id): the debtor across cases (several loans, one person),
    tz (IANA zones, ';'-separated) and state (US state code or name): the debtor's address zones
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

import phonenumbers

from dialer_core.compliance.region import US_STATE_ZONES, ZoneUnknown, province_key, region_of
from dialer_core.compliance.windows import zone
from dialer_core.config_errors import InputError, RowError

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
MAX_PHONES = 10


@dataclass(frozen=True)
class PhoneRow:
    e164: str
    country: str  # ISO 3166 alpha-2
    province: str  # "" when unknown (such a number is kept; the rules report it at dial time)
    city: str


@dataclass(frozen=True)
class CaseRow:
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


def _decoded_lines(data: bytes, encoding: str, bad: dict[int, str]):
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as exc:
            bad[number] = (
                f"bad {encoding} encoding at byte {exc.start}: {raw[exc.start : exc.start + 4]!r}"
            )
            yield "\n"  # keep csv line numbering; the row is reported, not parsed


def _canonical(header: str) -> str:
    key = header.strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(key, key)


def parse_amount(text: str) -> int:
    """'3,250.50' → 325050 minor units; raises ValueError with the reason."""
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("$", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a number: {text!r}")
    if value < 0:
        raise ValueError(f"negative amount {text!r}")
    minor = value * 100
    if minor != minor.to_integral_value():
        raise ValueError(f"more than 2 decimals: {text!r}")
    return int(minor)


def address_zone(text: str) -> str:
    """An IANA zone name from an address column; raises ValueError with the reason."""
    name = text.strip()
    try:
        zone(name)
    except (KeyError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name") from None
    return name


def parse_phone(text: str, default_country: str) -> PhoneRow:
    """Normalise to E.164 and look up the region; raises ValueError with the reason."""
    try:
        num = phonenumbers.parse(text.strip(), default_country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"unparseable phone number {text!r} ({exc})") from exc
    if not phonenumbers.is_valid_number(num):
        raise ValueError(f"invalid phone number {text!r} for {default_country}")
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    country = phonenumbers.region_code_for_number(num) or ""
    region = region_of(e164)
    if isinstance(region, ZoneUnknown):
        return PhoneRow(e164, country, "", "")
    return PhoneRow(e164, country, region.province or "", region.city or "")


def parse_cases_csv(
    data: bytes, *, default_country: str = "CN", encoding: str = "auto"
) -> ParsedCsv:
    """Parse the whole file; valid rows are kept even when other rows are bad."""
    enc = detect_encoding(data) if encoding == "auto" else encoding
    bad_lines: dict[int, str] = {}
    reader = csv.reader(_decoded_lines(data, enc, bad_lines))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise CsvFileError("empty file: expected a header line") from exc
    if 1 in bad_lines:
        raise CsvFileError(f"line 1 (header): {bad_lines[1]}")
    columns = [_canonical(h) for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    phone_cols = [i for i, c in enumerate(columns) if _PHONE_COL.match(c)]
    if missing or not phone_cols:
        need = missing + ([] if phone_cols else ["phone"])
        raise CsvFileError(f"line 1 (header): missing column(s) {', '.join(need)}; got {header}")
    rows: list[CaseRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    start_line = 2
    for record in reader:
        line = start_line
        start_line = reader.line_num + 1
        if line in bad_lines:
            errors.append(RowError(line, "*", bad_lines[line]))
            continue
        if not any(cell.strip() for cell in record):
            continue
        row, row_errors = _parse_record(line, columns, header, phone_cols, record, default_country)
        if row is not None and row.external_id in seen:
            row_errors.append(
                RowError(
                    line,
                    header[columns.index("external_id")],
                    f"duplicate external id {row.external_id!r} "
                    f"(first on line {seen[row.external_id]})",
                )
            )
            row = None
        if row_errors:
            errors.extend(row_errors)
        elif row is not None:
            seen[row.external_id] = line
            rows.append(row)
    return ParsedCsv(enc, tuple(rows), tuple(errors))


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
        if dpd < 0:
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
    for raw in re.split(r"[;|]", cell.get("tz", "")):
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
    for i in phone_cols:
        for raw in _PHONE_SPLIT.split(record[i]):
            if not raw.strip():
                continue
            try:
                phone = parse_phone(raw, default_country)
            except ValueError as exc:
                errors.append(RowError(line, header[i], str(exc)))
                continue
            if phone.e164 not in {p.e164 for p in phones}:
                phones.append(phone)
    if not phones and not any(e.column in {header[i] for i in phone_cols} for e in errors):
        errors.append(RowError(line, header[phone_cols[0]], "missing phone number"))
    if len(phones) > MAX_PHONES:
        errors.append(RowError(line, header[phone_cols[0]], f"more than {MAX_PHONES} phones"))
    if errors:
        return None, errors
    return CaseRow(
        line=line,
        external_id=external_id,
        debtor_name=name,
        amount_minor=amount,
        currency=cell.get("currency") or "CNY",
        days_past_due=dpd,
        product=cell.get("product", ""),
        due_date=due,
        phones=tuple(phones),
        debtor_id=cell.get("debtor_id", ""),
        address_zones=tuple(sorted(set(zones))),
    ), errors
