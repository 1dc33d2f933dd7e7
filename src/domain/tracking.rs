//! What the holder sees of a print job (the tracking page `/T/<token>`) and the text messages
//! sent to them: the five states a holder is told, masked names and mobile numbers, the
//! notification kinds and delivery states, and the retry schedule. Pure.

use super::job::JobState;
use serde::{Deserialize, Serialize};

/// A job's state as the holder is told it: staff states such as `leased` or
/// `needs_reconciliation` are all "being made" to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HolderState {
    Queued,
    InProduction,
    Ready,
    Collected,
    Cancelled,
}

impl HolderState {
    pub fn of(state: JobState) -> HolderState {
        match state {
            JobState::Queued => HolderState::Queued,
            JobState::Leased | JobState::Failed | JobState::NeedsReconciliation => {
                HolderState::InProduction
            }
            // A self-service job waits at the kiosk for the holder to release it.
            JobState::Printed | JobState::Held => HolderState::Ready,
            JobState::Collected => HolderState::Collected,
            JobState::Cancelled => HolderState::Cancelled,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            HolderState::Queued => "排队中",
            HolderState::InProduction => "制作中",
            HolderState::Ready => "可领取",
            HolderState::Collected => "已领取",
            HolderState::Cancelled => "已取消",
        }
    }
}

/// A holder's name on a public page: a person's name keeps its first character (张三 ->
/// 张*); a longer (organisation) name keeps its first two and last two characters.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    let n = chars.len();
    match n {
        0 => String::new(),
        1 => "*".into(),
        2..=4 => std::iter::once(chars[0])
            .chain(std::iter::repeat_n('*', n - 1))
            .collect(),
        _ => chars[..2]
            .iter()
            .copied()
            .chain(std::iter::repeat_n('*', n - 4))
            .chain(chars[n - 2..].iter().copied())
            .collect(),
    }
}

/// A mainland China mobile number as typed (spaces, dashes, a `+86` / `86` prefix allowed),
/// as its 11 digits: `1`, then `3`-`9`, then nine digits.
pub fn parse_mobile(text: &str) -> Option<String> {
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    let digits = digits
        .strip_prefix("+86")
        .or_else(|| digits.strip_prefix("0086"))
        .or_else(|| {
            (digits.len() == 13)
                .then(|| digits.strip_prefix("86"))
                .flatten()
        })
        .unwrap_or(&digits);
    let bytes = digits.as_bytes();
    let ok = bytes.len() == 11
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes[0] == b'1'
        && (b'3'..=b'9').contains(&bytes[1]);
    ok.then(|| digits.to_string())
}

/// 13812345678 -> 138****5678.
pub fn mask_mobile(mobile: &str) -> String {
    let chars: Vec<char> = mobile.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..3]
        .iter()
        .copied()
        .chain(std::iter::repeat_n('*', n - 7))
        .chain(chars[n - 4..].iter().copied())
        .collect()
}

/// A printed job waiting longer than this is marked uncollected (逾期未领) on the hall queue.
pub const UNCOLLECTED_AFTER_DAYS: i64 = 30;

/// Printed at `printed_at` and still waiting at `now`: uncollected for too long?
pub fn is_uncollected(
    printed_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    now - printed_at > chrono::Duration::days(UNCOLLECTED_AFTER_DAYS)
}

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The certificate is printed and waits at the hall.
    Ready,
    /// Still not collected some days later.
    Reminder,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Ready => "ready",
            NotificationKind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<NotificationKind> {
        [NotificationKind::Ready, NotificationKind::Reminder]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            NotificationKind::Ready => "可领取通知",
            NotificationKind::Reminder => "催领提醒",
        }
    }
}

/// Where a message's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Sent,
    /// Given up after [`MAX_DELIVERY_ATTEMPTS`].
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Sent,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            DeliveryState::Pending => "待发送",
            DeliveryState::Sent => "已发送",
            DeliveryState::Failed => "发送失败",
        }
    }
}

/// Attempts before a message is given up (about a day with the default base of 30 s).
pub const MAX_DELIVERY_ATTEMPTS: i32 = 12;

/// The wait after the `attempts`-th failed attempt: `base_s`, doubled after each further
/// failure, at most 6 hours.
pub fn retry_delay_s(attempts: i32, base_s: i64) -> i64 {
    let shift = attempts.clamp(1, 20) - 1;
    base_s.max(1).saturating_mul(1i64 << shift).min(6 * 3600)
}

/// What comes after a failed attempt: the next try, or giving up.
pub fn after_failure(attempts: i32) -> DeliveryState {
    if attempts >= MAX_DELIVERY_ATTEMPTS {
        DeliveryState::Failed
    } else {
        DeliveryState::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_state_has_a_holder_state() {
        let table = [
            (JobState::Queued, "排队中"),
            (JobState::Leased, "制作中"),
            (JobState::Failed, "制作中"),
            (JobState::NeedsReconciliation, "制作中"),
            (JobState::Printed, "可领取"),
            (JobState::Collected, "已领取"),
            (JobState::Cancelled, "已取消"),
        ];
        for (s, label) in table {
            assert_eq!(HolderState::of(s).label_zh(), label, "{s}");
        }
    }

    #[test]
    fn uncollected_after_thirty_days() {
        let printed = chrono::DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert!(!is_uncollected(
            printed,
            printed + chrono::Duration::days(30)
        ));
        assert!(is_uncollected(
            printed,
            printed + chrono::Duration::days(30) + chrono::Duration::minutes(1)
        ));
    }

    #[test]
    fn names_are_masked() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳小明"), "欧***");
        assert_eq!(mask_name("临沂市某某餐饮有限公司"), "临沂*******公司");
        assert_eq!(mask_name("王"), "*");
    }

    #[test]
    fn mobiles_are_parsed_and_masked() {
        assert_eq!(
            parse_mobile("138 1234 5678").as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            parse_mobile("+86 13812345678").as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            parse_mobile("8613812345678").as_deref(),
            Some("13812345678")
        );
        for bad in [
            "",
            "12812345678",
            "1381234567",
            "138123456789",
            "1381234567a",
            "0531-1234567",
        ] {
            assert_eq!(parse_mobile(bad), None, "{bad}");
        }
        assert_eq!(mask_mobile("13812345678"), "138****5678");
    }

    #[test]
    fn retries_back_off_exponentially_then_give_up() {
        assert_eq!(retry_delay_s(1, 30), 30);
        assert_eq!(retry_delay_s(2, 30), 60);
        assert_eq!(retry_delay_s(3, 30), 120);
        assert_eq!(retry_delay_s(20, 30), 6 * 3600);
        assert_eq!(after_failure(1), DeliveryState::Pending);
        assert_eq!(after_failure(MAX_DELIVERY_ATTEMPTS), DeliveryState::Failed);
    }
}
