//! The dashboard's figures: jobs per state and per hall, the share printed at partner halls
//! out of province, and the median times from queued to printed and to collected. Pure
//! arithmetic over `storage::jobs::list_job_times`; administrators see every hall, other
//! staff the jobs their hall prints or issued.

use crate::accounts::Staff;
use crate::domain::hall::{Hall, HallKind};
use crate::domain::job::JobState;
use crate::domain::role::Role;
use crate::storage::jobs::{list_job_times, JobTimes};
use crate::storage::{halls, DbConnection, StorageError};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq)]
pub struct HallCount {
    pub code: String,
    pub name: String,
    pub partner: bool,
    pub total: usize,
    pub printed: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub total: usize,
    /// Every state, in `JobState::ALL` order, with its count (zeros included).
    pub per_state: Vec<(JobState, usize)>,
    /// Target halls with at least one job, most jobs first.
    pub per_hall: Vec<HallCount>,
    /// Jobs printed (printed or collected since).
    pub printed: usize,
    /// Of those, printed at partner halls (out of province).
    pub printed_at_partners: usize,
    pub median_to_printed_s: Option<i64>,
    pub median_to_collected_s: Option<i64>,
}

impl Dashboard {
    /// The partner share in whole per cent, if anything was printed.
    pub fn partner_percent(&self) -> Option<u32> {
        (self.printed > 0)
            .then(|| ((self.printed_at_partners * 100 + self.printed / 2) / self.printed) as u32)
    }
}

/// The median of whole seconds (the lower middle of an even count: a time that happened).
fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[(v.len() - 1) / 2])
}

pub fn compute(jobs: &[JobTimes], halls: &[Hall]) -> Dashboard {
    let by_code: HashMap<&str, &Hall> = halls.iter().map(|h| (h.code.as_str(), h)).collect();
    let is_partner = |code: &str| {
        by_code
            .get(code)
            .is_some_and(|h| h.kind == HallKind::Partner)
    };
    let mut states: HashMap<&str, usize> = HashMap::new();
    let mut per_hall: BTreeMap<&str, HallCount> = BTreeMap::new();
    let (mut printed, mut partners) = (0, 0);
    let (mut to_printed, mut to_collected) = (Vec::new(), Vec::new());
    for j in jobs {
        *states.entry(j.state.as_str()).or_default() += 1;
        let entry = per_hall
            .entry(j.hall.as_str())
            .or_insert_with(|| HallCount {
                code: j.hall.clone(),
                name: by_code
                    .get(j.hall.as_str())
                    .map_or(j.hall.clone(), |h| h.name.clone()),
                partner: is_partner(&j.hall),
                total: 0,
                printed: 0,
            });
        entry.total += 1;
        if let Some(p) = j.printed_at {
            entry.printed += 1;
            printed += 1;
            if is_partner(&j.hall) {
                partners += 1;
            }
            to_printed.push((p - j.created_at).num_seconds());
        }
        if let Some(c) = j.collected_at {
            to_collected.push((c - j.created_at).num_seconds());
        }
    }
    let mut per_hall: Vec<HallCount> = per_hall.into_values().collect();
    per_hall.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.code.cmp(&b.code)));
    Dashboard {
        total: jobs.len(),
        per_state: JobState::ALL
            .iter()
            .map(|s| (*s, states.get(s.as_str()).copied().unwrap_or(0)))
            .collect(),
        per_hall,
        printed,
        printed_at_partners: partners,
        median_to_printed_s: median(to_printed),
        median_to_collected_s: median(to_collected),
    }
}

/// The dashboard as `staff` may see it.
pub fn dashboard(conn: &mut DbConnection, staff: &Staff) -> Result<Dashboard, StorageError> {
    let scope = (staff.role != Role::Admin).then_some(staff.hall_code.as_str());
    let jobs = list_job_times(conn, scope)?;
    let halls = halls::list_halls(conn)?;
    Ok(compute(&jobs, &halls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn hall(code: &str, kind: HallKind) -> Hall {
        Hall {
            code: code.into(),
            name: format!("hall {code}"),
            kind,
            province: "p".into(),
            city: "c".into(),
            county: String::new(),
            address: "a".into(),
            lat: 0.0,
            lon: 0.0,
            active: true,
            authority: None,
            agreement: None,
        }
    }

    fn job(
        hall: &str,
        state: &str,
        printed_after_s: Option<i64>,
        collected_after_s: Option<i64>,
    ) -> JobTimes {
        let t0 = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap();
        JobTimes {
            hall: hall.into(),
            issuing_hall: "i".into(),
            state: JobState::parse(state).unwrap(),
            created_at: t0,
            printed_at: printed_after_s.map(|s| t0 + chrono::Duration::seconds(s)),
            collected_at: collected_after_s.map(|s| t0 + chrono::Duration::seconds(s)),
        }
    }

    #[test]
    fn counts_states_halls_partner_share_and_medians() {
        let halls = vec![hall("P", HallKind::Partner), hall("T", HallKind::Town)];
        let jobs = vec![
            job("P", "collected", Some(60), Some(600)),
            job("P", "printed", Some(120), None),
            job("T", "printed", Some(30), None),
            job("T", "queued", None, None),
            job("T", "cancelled", None, None),
        ];
        let d = compute(&jobs, &halls);
        assert_eq!(d.total, 5);
        let count = |s: JobState| d.per_state.iter().find(|(x, _)| *x == s).unwrap().1;
        assert_eq!(count(JobState::Printed), 2);
        assert_eq!(count(JobState::Failed), 0);
        assert_eq!(d.per_hall[0].code, "T");
        assert_eq!(d.per_hall[0].total, 3);
        assert!(d.per_hall[1].partner);
        assert_eq!((d.printed, d.printed_at_partners), (3, 2));
        assert_eq!(d.partner_percent(), Some(67));
        assert_eq!(d.median_to_printed_s, Some(60));
        assert_eq!(d.median_to_collected_s, Some(600));
    }

    #[test]
    fn an_empty_register_has_no_share_and_no_medians() {
        let d = compute(&[], &[]);
        assert_eq!(d.partner_percent(), None);
        assert_eq!(d.median_to_printed_s, None);
        assert!(d.per_hall.is_empty());
    }
}
