//! `halls`: hall rows and their conversion to the domain `Hall`.

use super::schema::halls;
use super::{to_db_time, DbConnection, StorageError, StorageResult};
use crate::domain::hall::{Agreement, Authority, Covers, Hall, HallKind};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = halls)]
#[diesel(treat_none_as_null = true)]
pub struct HallRow {
    pub code: String,
    pub name: String,
    pub kind: HallKind,
    pub province: String,
    pub city: String,
    pub county: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub active: bool,
    pub authority_name: Option<String>,
    pub authority_credit_code: Option<String>,
    pub agreement_from: Option<NaiveDate>,
    pub agreement_to: Option<NaiveDate>,
    pub agreement_covers: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl HallRow {
    pub fn from_hall(h: &Hall, now: DateTime<Utc>) -> HallRow {
        HallRow {
            code: h.code.clone(),
            name: h.name.clone(),
            kind: h.kind,
            province: h.province.clone(),
            city: h.city.clone(),
            county: h.county.clone(),
            address: h.address.clone(),
            lat: h.lat,
            lon: h.lon,
            active: h.active,
            authority_name: h.authority.as_ref().map(|a| a.name.clone()),
            authority_credit_code: h.authority.as_ref().map(|a| a.credit_code.clone()),
            agreement_from: h.agreement.as_ref().map(|a| a.valid_from),
            agreement_to: h.agreement.as_ref().map(|a| a.valid_to),
            agreement_covers: h.agreement.as_ref().map(|a| covers_to_text(&a.covers)),
            created_at: to_db_time(now),
            updated_at: to_db_time(now),
        }
    }

    pub fn into_hall(self) -> StorageResult<Hall> {
        let authority = match (self.authority_name, self.authority_credit_code) {
            (Some(name), Some(credit_code)) => Some(Authority { name, credit_code }),
            _ => None,
        };
        let agreement = match (
            self.agreement_from,
            self.agreement_to,
            self.agreement_covers,
        ) {
            (Some(valid_from), Some(valid_to), Some(covers)) => Some(Agreement {
                valid_from,
                valid_to,
                covers: covers_from_text(&covers)?,
            }),
            _ => None,
        };
        Ok(Hall {
            code: self.code,
            name: self.name,
            kind: self.kind,
            province: self.province,
            city: self.city,
            county: self.county,
            address: self.address,
            lat: self.lat,
            lon: self.lon,
            active: self.active,
            authority,
            agreement,
        })
    }
}

fn covers_to_text(c: &Covers) -> String {
    serde_json::to_string(c).unwrap_or_else(|_| "\"all\"".to_string())
}

fn covers_from_text(s: &str) -> StorageResult<Covers> {
    serde_json::from_str(s)
        .map_err(|e| StorageError::Migration(format!("stored agreement covers {s:?}: {e}")))
}

pub fn list_halls(conn: &mut DbConnection) -> StorageResult<Vec<Hall>> {
    halls::table
        .order(halls::code.asc())
        .select(HallRow::as_select())
        .load(conn)?
        .into_iter()
        .map(HallRow::into_hall)
        .collect()
}

pub fn find_hall(conn: &mut DbConnection, code: &str) -> StorageResult<Option<Hall>> {
    halls::table
        .find(code)
        .select(HallRow::as_select())
        .first(conn)
        .optional()?
        .map(HallRow::into_hall)
        .transpose()
}

pub fn get_hall(conn: &mut DbConnection, code: &str) -> StorageResult<Hall> {
    find_hall(conn, code)?
        .ok_or_else(|| StorageError::NotFound(format!("no hall with code {code}")))
}

pub fn count_halls(conn: &mut DbConnection) -> StorageResult<i64> {
    Ok(halls::table.count().get_result(conn)?)
}

pub fn insert_hall(conn: &mut DbConnection, hall: &Hall, now: DateTime<Utc>) -> StorageResult<()> {
    diesel::insert_into(halls::table)
        .values(HallRow::from_hall(hall, now))
        .execute(conn)?;
    Ok(())
}

/// Replace every field but the code and creation time.
pub fn update_hall(conn: &mut DbConnection, hall: &Hall, now: DateTime<Utc>) -> StorageResult<()> {
    let mut row = HallRow::from_hall(hall, now);
    let existing: NaiveDateTime = halls::table
        .find(&hall.code)
        .select(halls::created_at)
        .first(conn)
        .optional()?
        .ok_or_else(|| StorageError::NotFound(format!("no hall with code {}", hall.code)))?;
    row.created_at = existing;
    diesel::update(halls::table.find(&hall.code))
        .set(&row)
        .execute(conn)?;
    Ok(())
}
