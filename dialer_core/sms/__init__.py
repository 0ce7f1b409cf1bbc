"""SMS reminders: the ``[sms]`` campaign table, the webhook sender and the send cycle."""

from dialer_core.sms.config import RetryPolicy, SmsConfig, load_sms, sms_config_for
from dialer_core.sms.cycle import SmsCycleResult, run_sms_cycle
from dialer_core.sms.sender import SendOutcome, post_with_retries

__all__ = [
    "RetryPolicy",
    "SendOutcome",
    "SmsConfig",
    "SmsCycleResult",
    "load_sms",
    "post_with_retries",
    "run_sms_cycle",
    "sms_config_for",
]
