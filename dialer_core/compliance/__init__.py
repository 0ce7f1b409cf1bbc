"""Pure compliance rules: calling windows, attempt caps, DNC, redial rules (see docs/compliance.md).

Every decision is a function of the contact, its history, the rules and ``now`` (a timezone-aware
datetime passed in); nothing here reads a clock or does I/O except the loaders of config, holiday
and DNC files, which read the path they are given.
"""

from dialer_core.compliance.abandonment import AbandonWindow, abandon_windows
from dialer_core.compliance.caps import CapRules, cap_check
from dialer_core.compliance.config import (
    ConfigError,
    load_compliance,
    load_compliance_file,
    load_preset,
    parse_duration,
)
from dialer_core.compliance.decision import Contact, check_contact, earliest_allowed, next_attempt
from dialer_core.compliance.dnc import (
    DncEntry,
    DncError,
    DncImport,
    DncList,
    normalize_number,
    parse_dnc_csv,
)
from dialer_core.compliance.holidays import (
    CalendarError,
    Holiday,
    HolidayCalendar,
    load_holidays,
    parse_holidays,
)
from dialer_core.compliance.hours import HoursError, WeeklyHours, parse_hours
from dialer_core.compliance.model import (
    Allowed,
    Decision,
    Denied,
    Disposition,
    PastAttempt,
    mask,
)
from dialer_core.compliance.redial import RedialDecision, RedialRule, RedialRules
from dialer_core.compliance.region import Region, ZoneUnknown, province_key, region_of
from dialer_core.compliance.rules import AbandonRules, ComplianceRules
from dialer_core.compliance.windows import (
    WindowRules,
    add_calling_hours,
    next_open,
    open_until,
    window_check,
)

__all__ = [
    "AbandonRules",
    "AbandonWindow",
    "Allowed",
    "CalendarError",
    "CapRules",
    "ComplianceRules",
    "ConfigError",
    "Contact",
    "Decision",
    "Denied",
    "Disposition",
    "DncEntry",
    "DncError",
    "DncImport",
    "DncList",
    "Holiday",
    "HolidayCalendar",
    "HoursError",
    "PastAttempt",
    "RedialDecision",
    "RedialRule",
    "RedialRules",
    "Region",
    "WeeklyHours",
    "WindowRules",
    "ZoneUnknown",
    "abandon_windows",
    "add_calling_hours",
    "cap_check",
    "check_contact",
    "earliest_allowed",
    "load_compliance",
    "load_compliance_file",
    "load_holidays",
    "load_preset",
    "mask",
    "next_attempt",
    "next_open",
    "normalize_number",
    "open_until",
    "parse_dnc_csv",
    "parse_duration",
    "parse_holidays",
    "parse_hours",
    "province_key",
    "region_of",
    "window_check",
]
