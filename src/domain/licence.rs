//! Licence status and lifecycle (docs/architecture.md, "Licences"): the status codes used by provincial licence
//! interfaces, the actions that change them, and which changes are possible.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The stored status. `Expired` is never stored: it derives from validity (`effective`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LicenceStatus {
    Valid,
    Suspended,
    Rescinded,
    Cancelled,
    Expired,
    Revoked,
    Superseded,
}

impl LicenceStatus {
    pub const STORED: [LicenceStatus; 6] = [
        LicenceStatus::Valid,
        LicenceStatus::Suspended,
        LicenceStatus::Rescinded,
        LicenceStatus::Cancelled,
        LicenceStatus::Revoked,
        LicenceStatus::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "valid",
            LicenceStatus::Suspended => "suspended",
            LicenceStatus::Rescinded => "rescinded",
            LicenceStatus::Cancelled => "cancelled",
            LicenceStatus::Expired => "expired",
            LicenceStatus::Revoked => "revoked",
            LicenceStatus::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<LicenceStatus> {
        [LicenceStatus::Expired]
            .into_iter()
            .chain(LicenceStatus::STORED)
            .find(|st| st.as_str() == s)
    }

    /// The two-digit code of provincial interfaces; `superseded` has none.
    pub fn code(self) -> Option<&'static str> {
        match self {
            LicenceStatus::Valid => Some("01"),
            LicenceStatus::Suspended => Some("02"),
            LicenceStatus::Rescinded => Some("03"),
            LicenceStatus::Cancelled => Some("04"),
            LicenceStatus::Expired => Some("05"),
            LicenceStatus::Revoked => Some("07"),
            LicenceStatus::Superseded => None,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "有效",
            LicenceStatus::Suspended => "暂扣",
            LicenceStatus::Rescinded => "撤销",
            LicenceStatus::Cancelled => "注销",
            LicenceStatus::Expired => "失效",
            LicenceStatus::Revoked => "吊销",
            LicenceStatus::Superseded => "已被新版本取代",
        }
    }

    /// The status a verifier sees on `today`: a valid licence past its validity is expired.
    pub fn effective(self, valid_to: Option<NaiveDate>, today: NaiveDate) -> LicenceStatus {
        match (self, valid_to) {
            (LicenceStatus::Valid, Some(to)) if today > to => LicenceStatus::Expired,
            (other, _) => other,
        }
    }
}

impl fmt::Display for LicenceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What staff may do to a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenceAction {
    Suspend,
    Reinstate,
    Rescind,
    Cancel,
    Revoke,
}

impl LicenceAction {
    pub fn parse(s: &str) -> Option<LicenceAction> {
        match s {
            "suspend" => Some(LicenceAction::Suspend),
            "reinstate" => Some(LicenceAction::Reinstate),
            "rescind" => Some(LicenceAction::Rescind),
            "cancel" => Some(LicenceAction::Cancel),
            "revoke" => Some(LicenceAction::Revoke),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LicenceAction::Suspend => "suspend",
            LicenceAction::Reinstate => "reinstate",
            LicenceAction::Rescind => "rescind",
            LicenceAction::Cancel => "cancel",
            LicenceAction::Revoke => "revoke",
        }
    }

    /// The audit event, in the past tense.
    pub fn event(self) -> &'static str {
        match self {
            LicenceAction::Suspend => "LicenceSuspended",
            LicenceAction::Reinstate => "LicenceReinstated",
            LicenceAction::Rescind => "LicenceRescinded",
            LicenceAction::Cancel => "LicenceCancelled",
            LicenceAction::Revoke => "LicenceRevoked",
        }
    }

    /// The status after the action, or why it cannot happen. Rescinded, cancelled, revoked
    /// and superseded are final.
    pub fn apply(self, from: LicenceStatus) -> Result<LicenceStatus, TransitionError> {
        use LicenceAction as A;
        use LicenceStatus as S;
        let to = match (self, from) {
            (A::Suspend, S::Valid) => S::Suspended,
            (A::Reinstate, S::Suspended) => S::Valid,
            (A::Rescind, S::Valid | S::Suspended) => S::Rescinded,
            (A::Cancel, S::Valid | S::Suspended) => S::Cancelled,
            (A::Revoke, S::Valid | S::Suspended) => S::Revoked,
            _ => return Err(TransitionError { action: self, from }),
        };
        Ok(to)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a licence whose status is {from}", action.as_str())]
pub struct TransitionError {
    pub action: LicenceAction,
    pub from: LicenceStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_from_every_status() {
        use LicenceAction as A;
        use LicenceStatus as S;
        let allowed = [
            (A::Suspend, S::Valid, S::Suspended),
            (A::Reinstate, S::Suspended, S::Valid),
            (A::Rescind, S::Valid, S::Rescinded),
            (A::Rescind, S::Suspended, S::Rescinded),
            (A::Cancel, S::Valid, S::Cancelled),
            (A::Cancel, S::Suspended, S::Cancelled),
            (A::Revoke, S::Valid, S::Revoked),
            (A::Revoke, S::Suspended, S::Revoked),
        ];
        for action in [A::Suspend, A::Reinstate, A::Rescind, A::Cancel, A::Revoke] {
            for from in S::STORED {
                let expected = allowed
                    .iter()
                    .find(|(a, f, _)| *a == action && *f == from)
                    .map(|t| t.2);
                assert_eq!(
                    action.apply(from).ok(),
                    expected,
                    "{action:?} from {from:?}"
                );
            }
        }
    }

    #[test]
    fn codes_and_expiry() {
        assert_eq!(LicenceStatus::Valid.code(), Some("01"));
        assert_eq!(LicenceStatus::Revoked.code(), Some("07"));
        assert_eq!(LicenceStatus::Superseded.code(), None);
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let v = LicenceStatus::Valid;
        assert_eq!(
            v.effective(Some(d("2025-01-01")), d("2025-01-02")),
            LicenceStatus::Expired
        );
        assert_eq!(
            v.effective(Some(d("2025-01-01")), d("2025-01-01")),
            LicenceStatus::Valid
        );
        assert_eq!(v.effective(None, d("2099-01-01")), LicenceStatus::Valid);
        assert_eq!(
            LicenceStatus::Revoked.effective(Some(d("2021-01-01")), d("2025-01-01")),
            LicenceStatus::Revoked
        );
    }
}
